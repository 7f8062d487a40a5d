/** Raised for invalid construct props; the message names the prop, the value and the fix. */
export class ConstructPropsError extends Error {
  override name = 'ConstructPropsError';
}
