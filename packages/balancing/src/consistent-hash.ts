import { connectivityState, type experimental } from '@grpc/grpc-js';
import { EndpointBalancer, type EndpointChild } from './endpoint-balancer';
import { HashRing, hashString, ringPoints } from './hash-ring';
import { configNumber, configString } from './lb-config';

/** The name the consistent-hash policy is registered under and service configs select it by. */
export const CONSISTENT_HASH = 'consistent_hash';

/** `consistent_hash`'s service config. */
export interface ConsistentHashConfig {
  /**
   * The request metadata key whose value is hashed (gRFC A76's `requestHashHeader`), e.g.
   * `x-user-id`. Required; not a `-bin` key. A call without it goes to a random endpoint; one with
   * several values hashes them joined with `,`.
   */
  requestHashHeader: string;
  /**
   * Points per endpoint on the ring, 1..4096. More points spread keys more evenly (an endpoint's
   * share of keys varies by about 1/sqrt(virtualNodes)) at the cost of memory (8 bytes a point) and
   * of rebuilding the ring when an endpoint changes state. Default 256.
   */
  virtualNodes?: number;
}

const DEFAULT_VIRTUAL_NODES = 256;
const MAX_VIRTUAL_NODES = 4096;

export class ConsistentHashLoadBalancingConfig implements experimental.TypedLoadBalancingConfig {
  constructor(
    readonly requestHashHeader: string,
    readonly virtualNodes: number,
  ) {}

  getLoadBalancerName(): string {
    return CONSISTENT_HASH;
  }

  toJsonObject(): object {
    return {
      [CONSISTENT_HASH]: { requestHashHeader: this.requestHashHeader, virtualNodes: this.virtualNodes },
    };
  }

  // biome-ignore lint/suspicious/noExplicitAny: grpc-js's config constructor interface takes any JSON
  static createFromJson(json: any): ConsistentHashLoadBalancingConfig {
    const header = configString(CONSISTENT_HASH, json, 'requestHashHeader', 'request_hash_header');
    if (header === undefined || header === '') {
      throw new Error(`${CONSISTENT_HASH}: requestHashHeader is required`);
    }
    const key = header.toLowerCase();
    if (key.endsWith('-bin')) throw new Error(`${CONSISTENT_HASH}: requestHashHeader cannot be a -bin key`);
    const nodes =
      configNumber(CONSISTENT_HASH, json, 'virtualNodes', 'virtual_nodes') ?? DEFAULT_VIRTUAL_NODES;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_VIRTUAL_NODES) {
      throw new Error(`${CONSISTENT_HASH}: virtualNodes must be an integer from 1 to ${MAX_VIRTUAL_NODES}`);
    }
    return new ConsistentHashLoadBalancingConfig(key, nodes);
  }
}

/** An endpoint and its ring points, computed once per endpoint (and virtualNodes setting). */
interface HashedChild extends EndpointChild {
  points: Uint32Array | undefined;
}

class ConsistentHashPicker implements experimental.Picker {
  constructor(
    private readonly ring: HashRing<HashedChild>,
    private readonly header: string,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const values = args.metadata.get(this.header);
    const hash =
      values.length === 0
        ? (Math.random() * 0x1_0000_0000) >>> 0
        : hashString(values.length === 1 ? String(values[0]) : values.join(','));
    const child = this.ring.lookup(hash) as HashedChild;
    // A child still connecting answers QUEUE (and starts connecting if idle): the call waits for
    // its own endpoint rather than going elsewhere, and is picked again when the child's state changes.
    return child.leaf.getPicker().pick(args);
  }
}

/**
 * `consistent_hash`: calls with the same value of `requestHashHeader` go to the same endpoint, on
 * a ring of `virtualNodes` points per endpoint. Endpoints in TRANSIENT_FAILURE are off the ring
 * (their keys go to the next endpoint clockwise, and come back when they recover); endpoints still
 * connecting stay on it, so keys do not move while a channel starts.
 */
export class ConsistentHashLoadBalancer extends EndpointBalancer<
  ConsistentHashLoadBalancingConfig,
  HashedChild
> {
  private ring: HashRing<HashedChild> | undefined = undefined;
  private ringMembers: readonly HashedChild[] = [];

  constructor(helper: experimental.ChannelControlHelper) {
    super(helper, CONSISTENT_HASH, ConsistentHashLoadBalancingConfig);
  }

  protected newChild(base: EndpointChild): HashedChild {
    return { ...base, points: undefined };
  }

  protected readyPicker(children: readonly HashedChild[]): experimental.Picker {
    const config = this.config as ConsistentHashLoadBalancingConfig;
    const members = children.filter((child) => child.state !== connectivityState.TRANSIENT_FAILURE);
    const nodes = config.virtualNodes;
    // A state change that keeps the same members on the ring (CONNECTING -> READY) keeps the ring.
    const changed =
      this.ring === undefined ||
      members.length !== this.ringMembers.length ||
      members.some((child, i) => child !== this.ringMembers[i] || child.points?.length !== nodes);
    if (changed) {
      this.ring = new HashRing(members, (child) => {
        if (child.points?.length !== nodes) child.points = ringPoints(child.name, nodes);
        return child.points;
      });
      this.ringMembers = members;
    }
    return new ConsistentHashPicker(this.ring as HashRing<HashedChild>, config.requestHashHeader);
  }
}
