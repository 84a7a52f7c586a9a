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
  | 'worker';

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
