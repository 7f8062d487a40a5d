/**
 * DeployCandidate's reach (ReleasePipeline.addRolloutTarget, wired by the stack for models with a canary): it may
 * invoke exactly the canaried Lambda models' inference aliases `live` and roll out exactly the canaried SageMaker
 * endpoints (SageMakerEndpoint.grantRollout), nothing else; its ROLLOUT_TARGETS setting names the same targets.
 * Synthesis runs cdk-nag, so the SageMaker grant's name-prefix wildcards must be acknowledged on its role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOpsConfigInput } from '../../lib/config';
import { asArray, identityStatements, logicalIdOf, synthApp, TEST_CONFIG, type SynthResult } from './helpers';

const SAGEMAKER = {
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1',
  modelDataKey: 'models/fraud-score/1.0.0/ab12.tar.gz',
  version: '1.0.0',
};

const CONFIG: ModelOpsConfigInput = {
  ...TEST_CONFIG,
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      canary: { enabled: true },
      // Three always-initialised environments: DeployCandidate warms all three.
      provisionedConcurrency: { min: 3, max: 4 },
    },
    // No canary: promoted by hand, so DeployCandidate never reaches it.
    { name: 'credit-risk', owner: 'ml-platform' },
    {
      name: 'fraud-score',
      owner: 'ml-platform',
      target: 'sagemaker',
      sagemaker: SAGEMAKER,
      canary: { enabled: true },
    },
  ],
};

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp(CONFIG);
});
afterAll(() => synth.cleanup());

const deployStatements = () =>
  identityStatements(synth.template).filter(
    (s) => s.logicalId.startsWith('ReleaseDeployCandidateRole') && s.statement.Effect === 'Allow',
  );
const actionsOf = (statements: ReturnType<typeof deployStatements>) =>
  statements.flatMap((s) => asArray(s.statement.Action));

describe('DeployCandidate grants', () => {
  it("may invoke only the canaried models' serving aliases live: the inference function and the SageMaker router", () => {
    const invoke = deployStatements().filter((s) =>
      asArray(s.statement.Action).includes('lambda:InvokeFunction'),
    );
    expect(invoke).toHaveLength(2);
    for (const s of invoke) expect(asArray(s.statement.Action)).toEqual(['lambda:InvokeFunction']);
    const aliases = ['BreastCancerEndpoint', 'FraudScoreEndpoint'].map((prefix) => ({
      Ref: logicalIdOf(synth.template, 'AWS::Lambda::Alias', prefix),
    }));
    expect(invoke.map((s) => s.statement.Resource)).toEqual(expect.arrayContaining(aliases));
    // Nothing of credit-risk (no canary), and no function ARN (which would allow $LATEST and every version).
    expect(JSON.stringify(deployStatements())).not.toMatch(/CreditRisk/);
  });

  it('no other release function may invoke a function', () => {
    const others = identityStatements(synth.template).filter(
      (s) =>
        s.logicalId.startsWith('Release') &&
        !s.logicalId.startsWith('ReleaseDeployCandidateRole') &&
        !s.logicalId.startsWith('ReleaseStateMachineRole') &&
        asArray(s.statement.Action).some((a) => a.startsWith('lambda:Invoke')),
    );
    expect(others).toEqual([]);
  });

  it("may roll out the canaried SageMaker endpoint: SageMakerEndpoint.grantRollout on DeployCandidate's role", () => {
    const actions = actionsOf(deployStatements());
    for (const action of [
      'sagemaker:DescribeEndpoint',
      'sagemaker:UpdateEndpoint',
      'sagemaker:CreateEndpointConfig',
      'sagemaker:DeleteEndpointConfig',
      'sagemaker:CreateModel',
      'iam:PassRole',
    ]) {
      expect(actions, action).toContain(action);
    }
    const pass = deployStatements().find((s) => asArray(s.statement.Action).includes('iam:PassRole'))!;
    expect(pass.statement.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
    const endpoint = logicalIdOf(synth.template, 'AWS::SageMaker::Endpoint', 'FraudScoreEndpoint');
    const describe = deployStatements().find((s) =>
      asArray(s.statement.Action).includes('sagemaker:DescribeEndpoint'),
    )!;
    expect(describe.statement.Resource).toEqual({ Ref: endpoint });
  });

  it('reads the routing record and the versions, appends to the ledger, writes no routing', () => {
    const dynamo = actionsOf(deployStatements()).filter((a) => a.startsWith('dynamodb:'));
    expect([...new Set(dynamo)].sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    const put = deployStatements().filter((s) => asArray(s.statement.Action).includes('dynamodb:PutItem'));
    const auditLog = logicalIdOf(synth.template, 'AWS::DynamoDB::Table', 'TablesAuditLog');
    expect(JSON.stringify(put.map((s) => s.statement.Resource))).toContain(auditLog);
    expect(JSON.stringify(put.map((s) => s.statement.Resource))).not.toMatch(/TablesDeployments/);
  });
});

describe('DeployCandidate settings', () => {
  const environment = (): Record<string, unknown> => {
    const functions = synth.template.findResources('AWS::Lambda::Function');
    const id = Object.keys(functions).find((k) => k.startsWith('ReleaseDeployCandidateFunction'))!;
    return (functions[id] as { Properties: { Environment: { Variables: Record<string, unknown> } } })
      .Properties.Environment.Variables;
  };

  it('names each canaried model with its target kind in ROLLOUT_TARGETS, and no local warm URL', () => {
    const targets = JSON.stringify(environment().ROLLOUT_TARGETS);
    expect(targets).toContain('\\"breast-cancer\\":{\\"kind\\":\\"lambda\\",\\"functionArn\\":');
    expect(targets).toContain('\\"fraud-score\\":{\\"kind\\":\\"sagemaker\\",\\"settings\\":');
    // The SageMaker target smoke-tests the candidate's variant through the router's alias.
    expect(targets).toContain('\\"routerFunctionArn\\":');
    expect(targets).toContain(logicalIdOf(synth.template, 'AWS::Lambda::Alias', 'FraudScoreEndpoint'));
    expect(targets).toContain(logicalIdOf(synth.template, 'AWS::Lambda::Alias', 'BreastCancerEndpoint'));
    // breast-cancer's three provisioned environments (fraud-score's router has none: one).
    expect(targets).toContain('\\"warmConcurrency\\":3');
    expect(targets).not.toContain('credit-risk');
    expect(environment().CANDIDATE_WARM_URL).toBe('');
  });
});
