// Whether a request may be answered: who is asking (authenticate, from the front proxy's client
// certificate and identity headers) and whether RBAC lets them (the cached SubjectAccessReview).
// One function for every way into the server, so the Express app and the metric fast path refuse
// exactly alike.

import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { authenticate, type IncomingHeaders, type PeerCertificate, type UserInfo } from './authentication.js';
import { forbiddenMessage, requestAttributes, type CachedAuthorizer } from './authorization.js';
import { errorText } from './error-text.js';
import type { RequestHeaderConfig } from './request-header.js';
import type { StatusReason } from './status-errors.js';

export interface AdmissionRequest {
  socket: TLSSocket;
  headers: IncomingHeaders;
  method: string;
  /** The URL's path, without the query. */
  path: string;
  query: Readonly<Record<string, unknown>>;
}

/** The user, once known (also on a refusal, for the request log), and the refusal, if any. */
export interface Admission {
  user?: UserInfo;
  refused?: { reason: StatusReason; message: string };
}

export interface AdmissionOptions {
  authorizer: CachedAuthorizer;
  /** The front proxy's contract as last read; undefined until it could be read. */
  authConfig: () => RequestHeaderConfig | undefined;
  /** Overrides requestheader-allowed-names from the ConfigMap. */
  allowedNames?: string[];
  logger: Logger;
}

export function requestAdmission(options: AdmissionOptions): (request: AdmissionRequest) => Promise<Admission> {
  const { authorizer, logger } = options;
  return async (request) => {
    const authenticated = authenticate(peerCertificate(request.socket), request.headers, options.authConfig(), options.allowedNames);
    if ('error' in authenticated) return { refused: { reason: 'Unauthorized', message: authenticated.error } };
    const { user } = authenticated;
    const attributes = requestAttributes(request.method, request.path, request.query);
    try {
      const decision = await authorizer.decide(user, attributes);
      if (!decision.allowed) return { user, refused: { reason: 'Forbidden', message: forbiddenMessage(user, attributes, decision.reason) } };
    } catch (error) {
      logger.warn({ err: errorText(error), user: user.username, path: request.path }, 'SubjectAccessReview failed');
      const message = `cannot authorize the request: the SubjectAccessReview failed (${errorText(error)}); check that queryscaler may create subjectaccessreviews`;
      return { user, refused: { reason: 'InternalError', message } };
    }
    return { user };
  };
}

// The client certificate is fixed for a connection's life (the server refuses renegotiation), and
// reading it costs more than the rest of a cached answer, so it is read once per connection.
const peerCertificates = new WeakMap<TLSSocket, PeerCertificate | undefined>();

function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (peerCertificates.has(socket)) return peerCertificates.get(socket);
  const peer = readPeerCertificate(socket);
  peerCertificates.set(socket, peer);
  return peer;
}

function readPeerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) return undefined;
  const cn: unknown = certificate.subject?.CN;
  const commonName = Array.isArray(cn) ? (cn[0] as string | undefined) : typeof cn === 'string' ? cn : undefined;
  const verifyError: unknown = socket.authorizationError;
  const errorMessage = typeof verifyError === 'string' ? verifyError : verifyError instanceof Error ? verifyError.message : undefined;
  return {
    verified: socket.authorized,
    ...(errorMessage === undefined ? {} : { verifyError: errorMessage }),
    ...(commonName === undefined ? {} : { commonName }),
  };
}
