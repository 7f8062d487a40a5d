/** `EventPublisher` on EventBridge: one PutEvents entry per event on the account's default bus. */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { DomainEvent, EventPublisher } from '../core/ports';

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: Pick<EventBridgeClient, 'send'> = new EventBridgeClient({}),
    private readonly busName = 'default',
  ) {}

  async publish(event: DomainEvent): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: event.source,
            DetailType: event.detailType,
            Detail: JSON.stringify(event.detail),
          },
        ],
      }),
    );
    // PutEvents reports per-entry failures in a 200 response; treat them as errors so the caller logs them.
    if ((out.FailedEntryCount ?? 0) > 0) {
      const entry = out.Entries?.[0];
      throw new Error(
        `EventBridge PutEvents rejected ${event.detailType}: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
  }
}
