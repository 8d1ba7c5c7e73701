import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../test/generated/test';
import type { AllocationSite } from './allocation-sites';

// Resolved from the working directory: the compiled bench runs from bench/dist/bench/.
export const PROTO_PATH = join(process.cwd(), 'proto', 'test.proto');

/** The benchmark uses the test service: `Unary` echoes, `ServerStream` sends `count` messages. */
export function loadEchoProto(): ProtoGrpcType {
  return grpc.loadPackageDefinition(
    protoLoader.loadSync(PROTO_PATH, { keepCase: false, defaults: true }),
  ) as unknown as ProtoGrpcType;
}

export type Workload = 'unary' | 'server_stream';

/** Messages per server-streaming call. */
export const STREAM_MESSAGES = 10;

export interface CpuSample {
  user: number;
  system: number;
}

/** The Node a measured process runs on: its version and the path it was started as (argv0). */
export interface NodeInfo {
  version: string;
  path: string;
}

/** This process's NodeInfo, sent with `ready` so the orchestrator checks `--node` reached it. */
export const thisNode = (): NodeInfo => ({ version: process.version, path: process.argv0 });

/** Parent -> child and child -> parent messages over the fork IPC channel. */
export type ControlMessage =
  | { type: 'ready'; port: number; token?: string; node?: NodeInfo }
  | { type: 'cpu'; id: number; cpu: CpuSample; heap: number; handles: number; stats?: Record<string, number> }
  | { type: 'sites'; sites: AllocationSite[] }
  | { type: 'error'; message: string };
