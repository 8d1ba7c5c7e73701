import { randomUUID } from 'node:crypto';
import type { Interceptor, Metadata, StatusObject } from '@grpc/grpc-js';
import {
  type ClientCall,
  type ClientCallListener,
  defineClientInterceptor,
  ForwardingClientCall,
} from '@weft/core';

/** Sends an `x-request-id` with every call and reports how each call ended. */
class RequestIdCall extends ForwardingClientCall {
  readonly id = randomUUID();

  constructor(
    call: ClientCall,
    private readonly report: (id: string, status: StatusObject) => void,
  ) {
    super(call);
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    metadata.set('x-request-id', this.id);
    super.start(metadata, listener);
  }

  override onReceiveStatus(status: StatusObject): void {
    this.report(this.id, status);
    super.onReceiveStatus(status);
  }
}

export function requestId(report: (id: string, status: StatusObject) => void): Interceptor {
  return defineClientInterceptor((options, nextCall) => new RequestIdCall(nextCall(options), report));
}
