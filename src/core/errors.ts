// One error type for every problem a user can cause: it carries a stable code and a message that
// says what is wrong and where. Everything else is a bug.

export type LensErrorCode =
  | 'missing-file'
  | 'bad-file'
  | 'bad-config'
  | 'bad-model'
  | 'vocab-mismatch'
  | 'empty-text'
  | 'bad-argument'
  | 'provider'
  | 'aborted'
  | 'worker'
  // Hugging Face Hub downloads (src/core/hub):
  | 'hub-auth' // 401/403: token missing or refused, or a gated model whose license is not accepted
  | 'hub-not-found' // 404: no such model id, revision or file
  | 'network' // the endpoint could not be reached, or answered 5xx / something unexpected
  | 'offline' // HF_HUB_OFFLINE=1 and the cache lacks what is needed
  | 'checksum'; // a downloaded file does not match the sha256 / git hash the Hub reports

export class LensError extends Error {
  constructor(
    readonly code: LensErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LensError';
  }
}

export function isLensError(e: unknown): e is LensError {
  return e instanceof Error && (e as LensError).name === 'LensError' && typeof (e as LensError).code === 'string';
}

export function abortError(): LensError {
  return new LensError('aborted', 'Cancelled.');
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError();
}
