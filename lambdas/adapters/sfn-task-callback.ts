/** `TaskCallback` on Step Functions: SendTaskSuccess / SendTaskFailure for a waiting `.waitForTaskToken` state. */
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import type { ExecutionStatusReader, TaskCallback } from '../core/ports';

/** The token's task already ended (timed out, or a twin call resumed it): nothing is waiting any more. */
export class TaskNoLongerWaitingError extends Error {
  override name = 'TaskNoLongerWaitingError';
}

const ENDED = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

export class StepFunctionsTaskCallback implements TaskCallback {
  constructor(private readonly client: Pick<SFNClient, 'send'> = new SFNClient({})) {}

  async succeed(taskToken: string, output: object): Promise<void> {
    await this.call(() =>
      this.client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })),
    );
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    await this.call(() =>
      this.client.send(new SendTaskFailureCommand({ taskToken, error, cause: cause.slice(0, 32_768) })),
    );
  }

  private async call(send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (err) {
      const name = (err as { name?: string }).name ?? '';
      if (ENDED.has(name)) throw new TaskNoLongerWaitingError(`${name}: ${(err as Error).message}`);
      throw err;
    }
  }
}

/**
 * `ExecutionStatusReader` on DescribeExecution. Any error (an unknown execution, an operator without
 * states:DescribeExecution) answers "cannot tell", so the check only ever adds information and never blocks a decision.
 */
export class StepFunctionsExecutionStatus implements ExecutionStatusReader {
  constructor(private readonly client: Pick<SFNClient, 'send'> = new SFNClient({})) {}

  async statusOf(executionId: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new DescribeExecutionCommand({ executionArn: executionId }));
      return out.status;
    } catch {
      return undefined;
    }
  }
}
