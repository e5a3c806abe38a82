/** A request to expose or hide that cannot be done as asked (bad input, no such network, a
 *  conflicting expose): the API answers it with a 4xx and this message, not a 500. */
export class ExposeRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ExposeRequestError';
  }
}
