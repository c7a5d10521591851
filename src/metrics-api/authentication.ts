// Who is asking. Like any aggregated API server we trust identity headers only from the front proxy:
// a client certificate chained to the request-header CA (TLS verifies the chain), whose CN is one of
// the allowed names; the user then comes from the X-Remote-* headers. Pure: TLS facts and headers in.

import type { RequestHeaderConfig } from './request-header.js';

const AUTHENTICATED_GROUP = 'system:authenticated';
const ANONYMOUS_USER = 'system:anonymous';

export interface UserInfo {
  username: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export interface PeerCertificate {
  /** The TLS layer verified the chain against the request-header CA. */
  verified: boolean;
  verifyError?: string;
  commonName?: string;
}

export type IncomingHeaders = Readonly<Record<string, readonly string[] | undefined>>;

export type AuthenticationResult = { user: UserInfo } | { error: string };

export function authenticate(peer: PeerCertificate | undefined, headers: IncomingHeaders, config: RequestHeaderConfig | undefined, allowedNamesOverride?: readonly string[]): AuthenticationResult {
  if (config === undefined) {
    return {
      error:
        'the request-header CA is not known yet: ConfigMap kube-system/extension-apiserver-authentication could not be read (see this server\'s log); it is retried periodically',
    };
  }
  if (peer === undefined) {
    return { error: 'a client certificate is required: send requests through the Kubernetes API server, e.g. kubectl get --raw /apis/external.metrics.k8s.io/v1beta1' };
  }
  if (!peer.verified) {
    return { error: `the client certificate is not signed by the request-header CA (requestheader-client-ca-file)${peer.verifyError === undefined ? '' : `: ${peer.verifyError}`}` };
  }
  const allowedNames = allowedNamesOverride ?? config.allowedNames;
  if (allowedNames.length > 0 && (peer.commonName === undefined || !allowedNames.includes(peer.commonName))) {
    return { error: `the client certificate's CN "${peer.commonName ?? ''}" is not an allowed request-header name (${allowedNames.join(', ')})` };
  }
  const username = config.usernameHeaders.map((h) => firstValue(headers, h)).find((v) => v !== undefined);
  if (username === undefined) {
    return { error: `the request names no user: none of the headers ${config.usernameHeaders.join(', ')} is set` };
  }
  const groups = config.groupHeaders.flatMap((h) => headers[h.toLowerCase()] ?? []).filter((g) => g !== '');
  // apiserver's AuthenticatedGroupAdder: the aggregator sends system:aggregator and
  // system:kube-aggregator without groups, and RBAC grants discovery and OpenAPI to system:authenticated.
  if (username !== ANONYMOUS_USER && !groups.includes(AUTHENTICATED_GROUP)) groups.push(AUTHENTICATED_GROUP);
  return { user: { username, groups, extra: extraFromHeaders(headers, config.extraHeaderPrefixes) } };
}

function firstValue(headers: IncomingHeaders, name: string): string | undefined {
  return headers[name.toLowerCase()]?.find((v) => v !== '');
}

/** `X-Remote-Extra-Scopes: a` -> extra.scopes = ['a']; keys are lower-cased and percent-decoded as Kubernetes does. */
function extraFromHeaders(headers: IncomingHeaders, prefixes: readonly string[]): Record<string, string[]> {
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    const prefix = prefixes.find((p) => name.startsWith(p.toLowerCase()));
    if (prefix === undefined || values === undefined) continue;
    const key = safeDecode(name.slice(prefix.length)).toLowerCase();
    extra[key] = [...(extra[key] ?? []), ...values];
  }
  return extra;
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
