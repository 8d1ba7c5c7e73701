// A server interceptor written with StageHooks: it admits only calls that name a tenant, gives
// handlers the tenant (`getCallContext()?.get(tenantKey)`) and echoes it in the response headers.
import * as grpc from '@grpc/grpc-js';
import { createContextKey, type StageHooks, stagedInterceptor, type WeftServerCall } from '@weft/core';

export const tenantKey = createContextKey<string>('tenant');

/** One object per call: its hooks (a class, not closures, so a call costs one allocation). */
class TenantCall implements StageHooks {
  private tenant = '';
  constructor(
    private readonly call: WeftServerCall,
    private readonly stage: number,
  ) {}

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.tenant = String(metadata.get('x-tenant')[0] ?? '');
    if (this.tenant === '') {
      const refusal = { code: grpc.status.INVALID_ARGUMENT, details: 'x-tenant is missing', metadata: null };
      this.call.sendStatusFrom(this.stage, refusal); // the handler never runs
    } else this.call.context.set(tenantKey, this.tenant);
  }

  onSendMetadata(headers: grpc.Metadata): void {
    headers.set('x-tenant', this.tenant);
  }
}

export const tenant = () => stagedInterceptor({ start: (call, stage) => new TenantCall(call, stage) });
