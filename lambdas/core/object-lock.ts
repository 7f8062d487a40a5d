/**
 * Object Lock retention of registered versions (`models/…`). The registry bucket has Object Lock enabled with no
 * default retention, so that `incoming/` and `capture/` objects stay unlocked and their lifecycle rules can delete
 * them; each registered version is instead locked when it is written: RegisterVersion passes `ObjectLockMode` and
 * `ObjectLockRetainUntilDate` on the copy into `models/`. CDK sets these two variables on RegisterVersion from
 * `config.registry.objectLock`.
 */

/** `GOVERNANCE` or `COMPLIANCE`: the `ObjectLockMode` of every object written under `models/`. */
export const MODEL_LOCK_MODE_ENV = 'MODEL_LOCK_MODE';
/** Whole days: `ObjectLockRetainUntilDate` = time of registration + this many days. */
export const MODEL_LOCK_DAYS_ENV = 'MODEL_LOCK_DAYS';

export type ModelLockMode = 'GOVERNANCE' | 'COMPLIANCE';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The retain-until date of a version registered at `now` with `days` of retention. */
export function retainUntil(now: Date, days: number): Date {
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`retainUntil: days must be a whole number >= 1, got ${days}`);
  }
  return new Date(now.getTime() + days * DAY_MS);
}
