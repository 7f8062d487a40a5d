/**
 * Which uploads start a release, defined once for both sides: the EventBridge rule of `ReleasePipeline` (AWS) and
 * the upload watcher of local mode (local/watcher.ts). When the upload layout changes, this file changes.
 *
 * Two layouts start a release: `incoming/<model>/<version>/manifest.json` (a plain `aws s3 cp`) and
 * `incoming/<model>/<version>/<upload-id>/manifest.json` (`modelops push`, one folder per push). EventBridge's
 * `wildcard` matches `*` against any run of characters, `/` included, and no EventBridge filter can say "exactly one
 * path segment" (a field's filters are OR-ed, never AND-ed). So one wildcard covers both layouts, and the trigger
 * deliberately starts a release for every `incoming/<anything>/<anything>/manifest.json`, other nested keys such as
 * `incoming/m/v/extra/manifest.json` included; ValidateArtifact ends those releases REJECTED with a reason naming
 * the expected layouts (`parseIncomingKey` in keys.ts decides which third segment is an upload id). The pusher learns from the ledger why the upload went nowhere,
 * instead of the upload being ignored in silence; and local mode, matching with the same semantics, does the same.
 */
import { MANIFEST_FILE } from './keys';
import { PREFIX } from './tables';

/** The EventBridge `wildcard` filter on `detail.object.key`: a manifest two or more levels under `incoming/`. */
export const RELEASE_TRIGGER_KEY_WILDCARD = `${PREFIX.incoming}*/*/${MANIFEST_FILE}`;

/** `detail.object.key` of the rule's event pattern. */
export function releaseTriggerKeyFilter(): { readonly wildcard: string }[] {
  return [{ wildcard: RELEASE_TRIGGER_KEY_WILDCARD }];
}

/**
 * EventBridge wildcard semantics as a regular expression: `*` is any run of characters (possibly empty, `/`
 * included); every other character is literal and case-sensitive. The pattern above has no escapes (`\*`).
 */
function wildcardRegExp(wildcard: string): RegExp {
  const body = wildcard
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('[\\s\\S]*');
  return new RegExp(`^${body}$`);
}

const TRIGGER = wildcardRegExp(RELEASE_TRIGGER_KEY_WILDCARD);

/** True when creating an object at `key` starts a release: exactly the keys the EventBridge rule matches. */
export function startsRelease(key: string): boolean {
  return TRIGGER.test(key);
}
