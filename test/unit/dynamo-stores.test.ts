import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoAuditLog } from '../../lambdas/adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../../lambdas/adapters/dynamo-deployment-store';
import { DynamoVersionStore } from '../../lambdas/adapters/dynamo-version-store';
import type { AuditEvent, DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';

interface Sent {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

/** A document client that records each command and answers with `reply` (which may throw). */
function stubClient(reply: (sent: Sent, index: number) => unknown = () => ({})) {
  const sent: Sent[] = [];
  const doc = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const s = { command: cmd.constructor.name, input: cmd.input };
      sent.push(s);
      return reply(s, sent.length - 1);
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, sent };
}

function sdkError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name === 'ThrottlingException' ? 'slow down' : 'condition failed'), {
    name,
    ...extra,
  });
}

const conditionFailed = (extra: Record<string, unknown> = {}) =>
  sdkError('ConditionalCheckFailedException', extra);

const REGISTERED: VersionRecord = {
  model: 'm',
  version: '1.0.0',
  status: 'REGISTERED',
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:00.000Z',
  sha256: 'a'.repeat(64),
};
const REJECTED: VersionRecord = { ...REGISTERED, status: 'REJECTED', reasons: ['bad'] };
const ROUTING: DeploymentRecord = {
  model: 'm',
  stable: '1.0.0',
  weight: 0,
  mode: 'canary',
  revision: 4,
  updatedAt: '2030-01-01T00:00:00.000Z',
};
const event = (eventId: string): AuditEvent => ({
  model: 'm',
  eventId,
  at: eventId.split('#')[0]!,
  type: 'PROMOTED',
  actor: 'test',
  details: {},
});

// Each release function is bound only to its own tables, so each adapter reads only its own table's variable.
describe('fromEnv', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('builds each store from its own variable alone', async () => {
    vi.stubEnv('MODEL_VERSIONS_TABLE', 'ModelVersions');
    vi.stubEnv('DEPLOYMENTS_TABLE', '');
    vi.stubEnv('AUDIT_LOG_TABLE', '');
    expect(DynamoVersionStore.fromEnv()).toBeInstanceOf(DynamoVersionStore);
    expect(DynamoDeploymentStore.fromEnv({ DEPLOYMENTS_TABLE: 'Deployments' })).toBeInstanceOf(
      DynamoDeploymentStore,
    );
    expect(DynamoAuditLog.fromEnv({ AUDIT_LOG_TABLE: 'AuditLog' })).toBeInstanceOf(DynamoAuditLog);
  });

  it('fails naming the missing variable', () => {
    vi.stubEnv('MODEL_VERSIONS_TABLE', 'ModelVersions');
    vi.stubEnv('DEPLOYMENTS_TABLE', '');
    vi.stubEnv('AUDIT_LOG_TABLE', '');
    expect(() => DynamoDeploymentStore.fromEnv()).toThrow(
      'environment variable DEPLOYMENTS_TABLE is not set; the stack (or local mode) must set it on this function',
    );
    expect(() => DynamoAuditLog.fromEnv()).toThrow(
      'environment variable AUDIT_LOG_TABLE is not set; the stack (or local mode) must set it on this function',
    );
    expect(() => DynamoVersionStore.fromEnv({})).toThrow(
      'environment variable MODEL_VERSIONS_TABLE is not set; the stack (or local mode) must set it on this function',
    );
  });
});

describe('DynamoVersionStore', () => {
  it('writes a version unless one is REGISTERED, in one conditional put to its table', async () => {
    const { doc, sent } = stubClient();
    const result = await new DynamoVersionStore('Versions', doc).putVersionUnlessRegistered(REGISTERED);
    expect(result).toEqual({ written: true, current: REGISTERED });
    expect(sent).toEqual([
      {
        command: 'PutCommand',
        input: expect.objectContaining({
          TableName: 'Versions',
          Item: REGISTERED,
          ConditionExpression: 'attribute_not_exists(#model) OR #status = :rejected',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      },
    ]);
  });

  it('returns the standing record DynamoDB attaches to a lost conditional write', async () => {
    const { doc, sent } = stubClient(() => {
      throw conditionFailed({ Item: REGISTERED });
    });
    const result = await new DynamoVersionStore('Versions', doc).putVersionUnlessRegistered(REJECTED);
    expect(result).toEqual({ written: false, current: REGISTERED });
    expect(sent).toHaveLength(1);
  });

  it('reads the standing record back when the failure carries none (dynalite)', async () => {
    const { doc, sent } = stubClient((s) => {
      if (s.command === 'PutCommand') throw conditionFailed();
      return { Item: REGISTERED };
    });
    const result = await new DynamoVersionStore('Versions', doc).putVersionUnlessRegistered(REJECTED);
    expect(result).toEqual({ written: false, current: REGISTERED });
    expect(sent.map((s) => s.command)).toEqual(['PutCommand', 'GetCommand']);
    expect(sent[1]!.input).toMatchObject({ TableName: 'Versions', ConsistentRead: true });
  });

  it('fails with TransientStoreError when the standing record vanished in between', async () => {
    const { doc } = stubClient((s) => {
      if (s.command === 'PutCommand') throw conditionFailed();
      return {};
    });
    await expect(
      new DynamoVersionStore('Versions', doc).putVersionUnlessRegistered(REJECTED),
    ).rejects.toMatchObject({
      name: 'TransientStoreError',
      message: 'm 1.0.0 changed during the conditional write',
    });
  });

  it('maps throttling to TransientStoreError naming the operation and table', async () => {
    const { doc } = stubClient(() => {
      throw sdkError('ThrottlingException');
    });
    await expect(new DynamoVersionStore('Versions', doc).getVersion('m', '1.0.0')).rejects.toMatchObject({
      name: 'TransientStoreError',
      message: 'GetItem Versions failed transiently (ThrottlingException: slow down)',
    });
  });

  it('pages through every version of a model', async () => {
    const { doc, sent } = stubClient((_s, i) =>
      i === 0
        ? { Items: [REGISTERED], LastEvaluatedKey: { model: 'm', version: '1.0.0' } }
        : { Items: [REJECTED] },
    );
    expect(await new DynamoVersionStore('Versions', doc).listVersions('m')).toEqual([REGISTERED, REJECTED]);
    expect(sent.map((s) => [s.command, s.input.ExclusiveStartKey])).toEqual([
      ['QueryCommand', undefined],
      ['QueryCommand', { model: 'm', version: '1.0.0' }],
    ]);
  });
});

describe('DynamoDeploymentStore', () => {
  it('creates the first record only if none exists, and later ones only at the expected revision', async () => {
    const { doc, sent } = stubClient();
    const store = new DynamoDeploymentStore('Deployments', doc);
    await store.putDeployment({ ...ROUTING, revision: 1 }, { expectedRevision: undefined });
    await store.putDeployment({ ...ROUTING, revision: 5 }, { expectedRevision: 4 });
    expect(
      sent.map((s) => [s.input.TableName, s.input.ConditionExpression, s.input.ExpressionAttributeValues]),
    ).toEqual([
      ['Deployments', 'attribute_not_exists(#model)', undefined],
      ['Deployments', '#revision = :expected', { ':expected': 4 }],
    ]);
  });

  it('fails with RoutingConflictError when the revision moved on', async () => {
    const { doc } = stubClient(() => {
      throw conditionFailed();
    });
    await expect(
      new DynamoDeploymentStore('Deployments', doc).putDeployment(ROUTING, { expectedRevision: 3 }),
    ).rejects.toMatchObject({
      name: 'RoutingConflictError',
      message:
        'the routing record of m changed while this change was being written (expected revision 3); someone else ' +
        'changed routing at the same time. Check `modelops status` and run the command again.',
    });
  });

  it('reads the routing record consistently', async () => {
    const { doc, sent } = stubClient(() => ({ Item: ROUTING }));
    expect(await new DynamoDeploymentStore('Deployments', doc).getDeployment('m')).toEqual(ROUTING);
    expect(sent[0]!.input).toEqual({ TableName: 'Deployments', Key: { model: 'm' }, ConsistentRead: true });
  });
});

describe('DynamoAuditLog', () => {
  it('fails with DuplicateAuditEventError rather than overwrite an event', async () => {
    const { doc, sent } = stubClient(() => {
      throw conditionFailed();
    });
    await expect(new DynamoAuditLog('Audit', doc).appendAudit(event('t1#a'))).rejects.toMatchObject({
      name: 'DuplicateAuditEventError',
      message: 'audit event m t1#a already exists',
    });
    expect(sent[0]!.input).toMatchObject({
      TableName: 'Audit',
      ConditionExpression: 'attribute_not_exists(eventId)',
    });
  });

  it('maps throttling of an append to TransientStoreError', async () => {
    const { doc } = stubClient(() => {
      throw sdkError('ThrottlingException');
    });
    await expect(new DynamoAuditLog('Audit', doc).appendAudit(event('t1#a'))).rejects.toMatchObject({
      name: 'TransientStoreError',
      message: 'PutItem Audit failed transiently (ThrottlingException: slow down)',
    });
  });

  it('returns the latest `limit` events oldest first, reading newest first', async () => {
    const { doc, sent } = stubClient((_s, i) =>
      i === 0
        ? { Items: [event('t5#e'), event('t4#d')], LastEvaluatedKey: { model: 'm', eventId: 't4#d' } }
        : { Items: [event('t3#c')] },
    );
    const events = await new DynamoAuditLog('Audit', doc).listAudit('m', { limit: 3 });
    expect(events.map((e) => e.eventId)).toEqual(['t3#c', 't4#d', 't5#e']);
    expect(sent.map((s) => [s.input.ScanIndexForward, s.input.Limit])).toEqual([
      [false, 3],
      [false, 1],
    ]);
  });

  it('pages forward from `since`, stopping at `limit`', async () => {
    const { doc, sent } = stubClient(() => ({
      Items: [event('t2#b'), event('t3#c')],
      LastEvaluatedKey: { model: 'm', eventId: 't3#c' },
    }));
    const events = await new DynamoAuditLog('Audit', doc).listAudit('m', { since: 't2', limit: 2 });
    expect(events.map((e) => e.eventId)).toEqual(['t2#b', 't3#c']);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.input).toMatchObject({
      KeyConditionExpression: '#model = :model AND #id >= :since',
      ExpressionAttributeValues: { ':model': 'm', ':since': 't2' },
      ScanIndexForward: true,
    });
  });

  it('reads every event oldest first without options', async () => {
    const { doc, sent } = stubClient((_s, i) =>
      i === 0
        ? { Items: [event('t1#a')], LastEvaluatedKey: { model: 'm', eventId: 't1#a' } }
        : { Items: [event('t2#b')] },
    );
    const events = await new DynamoAuditLog('Audit', doc).listAudit('m');
    expect(events.map((e) => e.eventId)).toEqual(['t1#a', 't2#b']);
    expect(sent.map((s) => [s.input.ScanIndexForward, s.input.Limit])).toEqual([
      [true, undefined],
      [true, undefined],
    ]);
  });
});
