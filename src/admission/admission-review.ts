// The admission.k8s.io/v1 AdmissionReview envelope: a request from kube-apiserver in, the same
// kind with a response out. Pure. A denial carries code 403 (reason Forbidden), as KEDA's webhook
// and controller-runtime's do, so kubectl prints `Error from server (Forbidden): ... admission
// webhook "<name>" denied the request: <message>`.
import { admitScaledObject, type AdmissionDecision, type AdmissionWorld } from './scaled-object-checks.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
}

export interface AdmissionReviewOut {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The answer to an AdmissionReview body, or the reason it is no AdmissionReview this webhook reads (a 400). */
export function answerAdmissionReview(body: unknown, world: AdmissionWorld): { review: AdmissionReviewOut } | { error: string } {
  const request = requestOf(body);
  if ('error' in request) return request;
  const decision = decide(request, world);
  const response: AdmissionResponse = { uid: request.uid, allowed: decision.allowed };
  if (!decision.allowed) response.status = { code: 403, reason: 'Forbidden', message: decision.message ?? 'refused' };
  if (decision.warnings.length > 0) response.warnings = decision.warnings;
  return { review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response } };
}

function decide(request: AdmissionRequest, world: AdmissionWorld): AdmissionDecision {
  // The webhook configuration sends only ScaledObject CREATE and UPDATE; anything else is not ours to judge.
  if (request.kind?.kind !== 'ScaledObject' || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) {
    return { allowed: true, warnings: [] };
  }
  return admitScaledObject(request.operation, withNamespace(request.object, request.namespace), withNamespace(request.oldObject, request.namespace), world);
}

function requestOf(body: unknown): AdmissionRequest | { error: string } {
  if (!isRecord(body) || body.kind !== 'AdmissionReview') return { error: 'the body is not an AdmissionReview' };
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return { error: `AdmissionReview ${String(body.apiVersion)} is not supported; register the webhook with admissionReviewVersions: [v1]` };
  }
  const request = body.request;
  if (!isRecord(request) || typeof request.uid !== 'string' || request.uid === '') return { error: 'the AdmissionReview has no request with a uid' };
  return request as unknown as AdmissionRequest;
}

/** The request's namespace, where the object leaves its own out. */
function withNamespace(object: unknown, namespace: string | undefined): unknown {
  if (!isRecord(object) || !isRecord(object.metadata) || object.metadata.namespace !== undefined || namespace === undefined) return object;
  return { ...object, metadata: { ...object.metadata, namespace } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
