/**
 * Shared setup for infra tests: synthesize the real app (same code path as `cdk synth`) into a temp directory, or a
 * bare stack for one construct. Both skip asset bundling and CDK's built-in CloudFormation validation unless asked:
 * templates do not depend on bundle contents, and esbuild, the ~45 MB layer copy and loading the validator (a WASM
 * module, seconds per test file) were most of the infra tests' time. security.test.ts synthesizes with both, so a
 * broken bundle or template still fails the suite.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { createApp } from '../../bin/modelops';
import type { ModelOpsConfigInput } from '../../lib/config';
import type { ModelOpsStack } from '../../lib/stacks/modelops-stack';

export const TEST_CONFIG: ModelOpsConfigInput = {
  project: 'modelops',
  stage: 'test',
  retention: { logDays: 30, accessLogDays: 90 },
  registry: { maxArtifactBytes: 1_000_000, incomingExpirationDays: 7, noncurrentVersionExpirationDays: 60 },
  models: [
    { name: 'breast-cancer', owner: 'ml-platform' },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
};

export interface SynthResult {
  readonly stack: ModelOpsStack;
  readonly template: Template;
  readonly assembly: CloudAssembly;
  readonly outdir: string;
  /** Removes the temporary cloud assembly (with bundling, it holds a ~45 MB layer copy). */
  readonly cleanup: () => void;
}

/** A resource of a synthesized template. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
}

/**
 * CDK context that bundles no stack's assets (`aws:cdk:bundling-stacks`, what `cdk deploy --exclusively` sets for
 * unselected stacks). Assets keep a hash, so templates are complete; only the bundle files are missing.
 */
export const NO_BUNDLING_CONTEXT: Readonly<Record<string, unknown>> = { [BUNDLING_STACKS]: [] };

export interface SynthOptions {
  /**
   * Bundle the functions (esbuild) and stage the ONNX Runtime layer, as `cdk synth` does.
   * @default false
   */
  readonly bundling?: boolean;
  /**
   * Run CDK's built-in CloudFormation template validation, as `cdk synth` does.
   * @default false
   */
  readonly cloudFormationValidation?: boolean;
}

/** A bare stack for single-construct tests: no asset bundling, no built-in CloudFormation validation. */
export function testStack(id = 'Test'): Stack {
  return new Stack(
    new App({ context: { ...NO_BUNDLING_CONTEXT }, builtinCloudFormationValidation: false }),
    id,
  );
}

/**
 * Synthesizes the app once; call from `beforeAll`. It always runs cdk-nag; it bundles functions and validates the
 * template only when `options` ask. `beforeSynth` may add to the stack what a deployer would (e.g. a caller granted through a public
 * helper).
 */
export function synthApp(
  config: ModelOpsConfigInput = TEST_CONFIG,
  beforeSynth?: (stack: ModelOpsStack) => void,
  options: SynthOptions = {},
): SynthResult {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelops-infra-'));
  const context = options.bundling === true ? {} : { ...NO_BUNDLING_CONTEXT };
  const { app, stack } = createApp({
    config,
    appProps: {
      outdir,
      context,
      builtinCloudFormationValidation: options.cloudFormationValidation === true,
    },
  });
  beforeSynth?.(stack);
  const assembly = app.synth();
  const template = Template.fromJSON(
    assembly.getStackByName(stack.stackName).template as Record<string, unknown>,
  );
  return {
    stack,
    template,
    assembly,
    outdir,
    cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }),
  };
}

export interface PolicyStatementJson {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, unknown>;
  readonly Principal?: unknown;
}

export function asArray<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** Every statement of identity policies (managed, inline, role-embedded), with the resource that holds it. */
export function identityStatements(template: Template): {
  readonly logicalId: string;
  readonly roles: readonly string[];
  readonly statement: PolicyStatementJson;
}[] {
  const out: { logicalId: string; roles: readonly string[]; statement: PolicyStatementJson }[] = [];
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const refs = (v: unknown): string[] =>
    asArray(v as unknown[]).map((r) => ((r as { Ref?: string }).Ref ?? JSON.stringify(r)) as string);
  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    const docs: { doc: unknown; roles: string[] }[] = [];
    if (resource.Type === 'AWS::IAM::ManagedPolicy' || resource.Type === 'AWS::IAM::Policy') {
      docs.push({ doc: props.PolicyDocument, roles: refs(props.Roles) });
    } else if (resource.Type === 'AWS::IAM::Role') {
      for (const p of asArray(props.Policies as unknown[])) {
        docs.push({ doc: (p as { PolicyDocument: unknown }).PolicyDocument, roles: [logicalId] });
      }
    }
    for (const { doc, roles } of docs) {
      for (const statement of asArray((doc as { Statement: PolicyStatementJson[] }).Statement)) {
        out.push({ logicalId, roles, statement });
      }
    }
  }
  return out;
}

/** The logical id of the only resource of `type` whose id starts with `prefix`. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}

/** A SageMaker ARN with a name pattern, as CDK renders `stack.formatArn` in this stack (`<resource>/<prefix>*`). */
export function sageMakerArnPattern(resource: string, prefix: string): Record<string, unknown> {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':sagemaker:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        `:${resource}/${prefix}*`,
      ],
    ],
  };
}
