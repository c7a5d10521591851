// Every error this server returns is a Kubernetes Status, as an aggregated API server's are, so
// kubectl and the HPA controller print its message ("Error from server (NotFound): ...").

export type StatusReason = 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'MethodNotAllowed' | 'InternalError' | 'ServiceUnavailable';

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  code: number;
}

const CODES: Readonly<Record<StatusReason, number>> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  InternalError: 500,
  ServiceUnavailable: 503,
};

export function failureStatus(reason: StatusReason, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: CODES[reason] };
}
