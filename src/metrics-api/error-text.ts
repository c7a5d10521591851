// An error as one line for a log or a Status message: a failed kube-apiserver call (client-node's
// ApiException carries the HTTP code and the Status body) says the API's own message.

export function errorText(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'code' in error && 'body' in error) {
    const { code, body } = error as { code: unknown; body: unknown };
    const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : undefined;
    if (message !== undefined) return `HTTP ${String(code)}: ${message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
