/** The local stand-in for EventBridge: an in-process bus that hands each published event to its subscribers. */
import type { DomainEvent, EventPublisher } from '../lambdas/core/ports';

export type EventSubscriber = (event: DomainEvent) => void | Promise<void>;

export class LocalEventBus implements EventPublisher {
  private readonly subscribers = new Set<EventSubscriber>();
  readonly published: DomainEvent[] = [];

  /** Returns the unsubscribe function. */
  subscribe(subscriber: EventSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  async publish(event: DomainEvent): Promise<void> {
    this.published.push(event);
    // A failing subscriber must not stop the others or the publisher (as with EventBridge targets).
    await Promise.allSettled([...this.subscribers].map(async (s) => s(event)));
  }
}
