/**
 * The wiring tables against their ASL files: every placeholder has a row, every row is invoked, and every Task's
 * TimeoutSeconds equals its function's timeout. Each check is also run on a mutated copy, so it is shown to fail.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELEASE_ASL_PATH } from '../../lib/constructs/release-pipeline';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { RETRAIN_WORKFLOW } from '../../lib/workflows/retrain';
import {
  boundVariableNames,
  functionArnPlaceholder,
  functionEnvironment,
  type Workflow,
} from '../../lib/workflows/types';
import { aslPlaceholders, wiringProblems } from '../../lib/workflows/wiring-check';

const releaseAsl = fs.readFileSync(RELEASE_ASL_PATH, 'utf8');

type MutableStates = Record<string, Record<string, unknown>>;

/** The release ASL text after `mutate` edited its parsed States. */
function mutatedAsl(mutate: (states: MutableStates) => void): string {
  const definition = JSON.parse(releaseAsl) as { States: MutableStates };
  mutate(definition.States);
  return JSON.stringify(definition);
}

describe('release wiring table', () => {
  it('agrees with release.asl.json', () => {
    expect(wiringProblems(RELEASE_WORKFLOW, releaseAsl)).toEqual([]);
  });

  it('has one row per placeholder of the ASL file, and nothing else', () => {
    expect(RELEASE_WORKFLOW.functions.map(functionArnPlaceholder).sort()).toEqual(
      aslPlaceholders(releaseAsl).sort(),
    );
  });

  it('reports a Task whose TimeoutSeconds differs from its function timeout', () => {
    const asl = mutatedAsl((states) => {
      states.ValidateArtifact!.TimeoutSeconds = 900;
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release.asl.json: Task ValidateArtifact has TimeoutSeconds 900 but its function ValidateArtifact times out ' +
        'after 300 s; make them equal',
    ]);
  });

  it('reports a Task shorter than its function too: Step Functions would move on while the function still runs', () => {
    const asl = mutatedAsl((states) => {
      states.RecordFailure!.TimeoutSeconds = 10;
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release.asl.json: Task RecordFailure has TimeoutSeconds 10 but its function RecordRejection times out ' +
        'after 30 s; make them equal',
    ]);
  });

  it('reports a Task without TimeoutSeconds', () => {
    const asl = mutatedAsl((states) => {
      delete states.RegisterVersion!.TimeoutSeconds;
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release.asl.json: Task RegisterVersion has no TimeoutSeconds; set it to 240, the timeout of RegisterVersion',
    ]);
  });

  it('reports a placeholder that has no row', () => {
    const asl = mutatedAsl((states) => {
      states.RegisterVersion!.Resource = '${CopyArtifactFunctionArn}';
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release.asl.json: ${CopyArtifactFunctionArn} has no row in the release wiring table; add one',
      'release wiring table: row RegisterVersion is not wired: no Task in release.asl.json uses it ' +
        '(${RegisterVersionFunctionArn}); remove the row or add the Task',
    ]);
  });

  it('reports a row no Task invokes', () => {
    const workflow: Workflow = {
      ...RELEASE_WORKFLOW,
      functions: [
        ...RELEASE_WORKFLOW.functions,
        { ...RELEASE_WORKFLOW.functions[2], id: 'Unwired', handler: 'unwired' },
      ],
    };
    expect(wiringProblems(workflow, releaseAsl)).toEqual([
      'release wiring table: row Unwired is not wired: no Task in release.asl.json uses it ' +
        '(${UnwiredFunctionArn}); remove the row or add the Task',
    ]);
  });

  it('reports a placeholder used outside a Task Resource as not wired', () => {
    const asl = mutatedAsl((states) => {
      const task = states.RegisterVersion!;
      task.Parameters = { ...(task.Parameters as object), arn: task.Resource };
      task.Resource = 'arn:aws:states:::lambda:invoke';
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release wiring table: row RegisterVersion is not wired: no Task in release.asl.json names it as a Task ' +
        'Resource (${RegisterVersionFunctionArn}); remove the row or add the Task',
    ]);
  });

  it('checks Tasks nested in Parallel branches', () => {
    const asl = mutatedAsl((states) => {
      const validate = states.ValidateArtifact!;
      states.ValidateArtifact = {
        Type: 'Parallel',
        Branches: [
          {
            StartAt: 'Inner',
            States: { Inner: { ...validate, Next: undefined, End: true, TimeoutSeconds: 5 } },
          },
        ],
        Next: validate.Next,
      };
    });
    expect(wiringProblems(RELEASE_WORKFLOW, asl)).toEqual([
      'release.asl.json: Task Inner has TimeoutSeconds 5 but its function ValidateArtifact times out after 300 s; ' +
        'make them equal',
    ]);
  });

  it('binds each row only its own settings and tables', () => {
    const [validate, register, record] = RELEASE_WORKFLOW.functions;
    expect(boundVariableNames(validate)).toEqual([
      'AUDIT_LOG_TABLE',
      'CONFIGURED_MODELS',
      'DEPLOYMENTS_TABLE',
      'MAX_ARTIFACT_BYTES',
      'MODEL_MAX_BATCH',
      'MODEL_VERSIONS_TABLE',
      'REGISTRY_BUCKET',
    ]);
    expect(boundVariableNames(register)).toEqual([
      'AUDIT_LOG_TABLE',
      'MODEL_LOCK_DAYS',
      'MODEL_LOCK_MODE',
      'MODEL_SIGNING_KEY_ID',
      'MODEL_VERSIONS_TABLE',
      'REGISTRY_BUCKET',
    ]);
    expect(
      functionEnvironment(
        record,
        {
          registryBucket: 'bucket',
          maxArtifactBytes: '1',
          configuredModels: 'm',
          modelLockMode: 'GOVERNANCE',
          rolloutPolicies: '{}',
          metricsReadUrl: '',
          approvalPolicies: '{}',
          eventBusName: '',
          modelLockDays: '1',
          modelSigningKeyId: 'k',
          rolloutTargets: '{}',
          candidateWarmUrl: '',
          modelMaxBatch: '{}',
          retrainPolicies: '{}',
        },
        {
          modelVersions: 'mv',
          deployments: 'dep',
          auditLog: 'audit',
          driftCounters: 'dc',
          monitorState: 'ms',
          predictionLog: 'pl',
        },
      ),
    ).toEqual({ REGISTRY_BUCKET: 'bucket', MODEL_VERSIONS_TABLE: 'mv', AUDIT_LOG_TABLE: 'audit' });
  });
});

describe('retrain wiring table', () => {
  const retrainAsl = fs.readFileSync(
    path.join(path.dirname(RELEASE_ASL_PATH), RETRAIN_WORKFLOW.aslFile),
    'utf8',
  );

  it('agrees with retrain.asl.json: every function placeholder a row, every other one a declared substitution', () => {
    expect(wiringProblems(RETRAIN_WORKFLOW, retrainAsl)).toEqual([]);
    expect([...aslPlaceholders(retrainAsl)].sort()).toEqual(
      [...RETRAIN_WORKFLOW.functions.map(functionArnPlaceholder), ...RETRAIN_WORKFLOW.substitutions].sort(),
    );
  });

  it('reports an undeclared placeholder and a declared substitution the file does not use', () => {
    const asl = retrainAsl.replace('${TrainingRoleArn}', '${TrainingRole}');
    expect(wiringProblems(RETRAIN_WORKFLOW, asl)).toEqual([
      'retrain.asl.json: ${TrainingRole} has no row in the retrain wiring table; add one',
      'retrain wiring table: substitution ${TrainingRoleArn} is not used in retrain.asl.json; remove it from substitutions',
    ]);
  });
});

describe('lib/workflows', () => {
  it('loads without aws-cdk-lib or any other package (local mode and tests load it)', () => {
    const dir = path.resolve(__dirname, '..', '..', 'lib', 'workflows');
    // A fresh process, so nothing this test file imported counts.
    const script = [
      `require(${JSON.stringify(path.join(dir, 'release.ts'))});`,
      `require(${JSON.stringify(path.join(dir, 'wiring-check.ts'))});`,
      'const loaded = Object.keys(require.cache).filter((f) => f.includes("node_modules") && !/[\\/](tsx|esbuild)[\\/]/.test(f));',
      'process.stdout.write(JSON.stringify(loaded));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([]);
  });
});
