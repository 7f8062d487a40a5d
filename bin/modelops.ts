/**
 * CDK app: load and validate `modelops.config.ts`, create the stack, add tags and cdk-nag. Wiring only; every
 * resource lives in lib/.
 */
import { App, Tags, Validations } from 'aws-cdk-lib';
import type { AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import rawConfig from '../modelops.config';
import { parseConfig } from '../lib/config';
import { ModelOpsStack } from '../lib/stacks/modelops-stack';

export interface CreateAppOptions {
  /** Raw configuration; validated here. Default: `modelops.config.ts`. */
  readonly config?: unknown;
  readonly appProps?: AppProps;
}

/** Builds the app; exported so tests synthesize exactly what `cdk synth` does. */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: ModelOpsStack } {
  const config = parseConfig(options.config ?? rawConfig);
  const app = new App(options.appProps);
  const stack = new ModelOpsStack(app, `${config.project}-${config.stage}`, {
    config,
    description: `serverless-modelops ${config.project} (${config.stage}): model registry, release pipeline and inference endpoints`,
    // Undefined account/region leave the stack environment-agnostic (synth works without credentials).
    env: {
      account: config.env.account ?? process.env.CDK_DEFAULT_ACCOUNT,
      region: config.env.region ?? process.env.CDK_DEFAULT_REGION,
    },
  });
  Tags.of(app).add('project', config.project);
  Tags.of(app).add('stage', config.stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
  return { app, stack };
}

if (require.main === module) {
  createApp();
}
