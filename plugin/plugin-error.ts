// Errors a handler throws on purpose. The HTTP status matters to Docker: every non-200 answer
// becomes a user-visible error built from `Err`, and 400 marks input we could not even decode
// (so a retry with the same body is pointless).

export class PluginError extends Error {
  constructor(
    message: string,
    readonly status: number = 500,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

export class BadRequestError extends PluginError {
  constructor(message: string) {
    super(message, 400);
    this.name = 'BadRequestError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
