import { connectivityState, experimental } from '@grpc/grpc-js';
import { EndpointBalancer, type EndpointChild } from './endpoint-balancer';
import { configNumber } from './lb-config';

/** The name `least_request` is registered under and service configs select it by. */
export const LEAST_REQUEST = 'least_request';

/** `least_request`'s service config (gRFC A48's fields; `choice_count` is read too). */
export interface LeastRequestConfig {
  /** How many endpoints are drawn at random for each pick; the least loaded wins. 2..10, default 2. */
  choiceCount?: number;
}

const DEFAULT_CHOICE_COUNT = 2;
/** gRFC A48 caps choice_count at 10 (more is a scan of the list, not power of choices). */
const MAX_CHOICE_COUNT = 10;

export class LeastRequestLoadBalancingConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly choiceCount: number) {}

  getLoadBalancerName(): string {
    return LEAST_REQUEST;
  }

  toJsonObject(): object {
    return { [LEAST_REQUEST]: { choiceCount: this.choiceCount } };
  }

  // biome-ignore lint/suspicious/noExplicitAny: grpc-js's config constructor interface takes any JSON
  static createFromJson(json: any): LeastRequestLoadBalancingConfig {
    const given = configNumber(LEAST_REQUEST, json, 'choiceCount', 'choice_count') ?? DEFAULT_CHOICE_COUNT;
    if (!Number.isInteger(given) || given < 2) {
      throw new Error(`${LEAST_REQUEST}: choiceCount must be an integer >= 2 (got ${given})`);
    }
    // A48: values above the cap are treated as the cap.
    return new LeastRequestLoadBalancingConfig(Math.min(given, MAX_CHOICE_COUNT));
  }
}

/**
 * An endpoint and its calls in flight through this channel. The counter outlives pickers (a new
 * picker each time a child changes state), and its two callbacks are made once per endpoint, so a
 * pick allocates only grpc-js's result object.
 */
interface CountedChild extends EndpointChild {
  active: number;
  readonly started: () => void;
  readonly ended: () => void;
}

function countedChild(base: EndpointChild): CountedChild {
  const child: CountedChild = {
    ...base,
    active: 0,
    started: () => {
      child.active++;
    },
    ended: () => {
      child.active--;
    },
  };
  return child;
}

class LeastRequestPicker implements experimental.Picker {
  constructor(
    private readonly ready: readonly CountedChild[],
    private readonly choiceCount: number,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const ready = this.ready;
    const n = ready.length;
    // Envoy's and gRFC A48's power of choices: draw choiceCount endpoints at random (with
    // replacement, as they do), keep the one with the fewest calls in flight (the first on a tie).
    let best = ready[(Math.random() * n) | 0] as CountedChild;
    for (let i = 1; i < this.choiceCount; i++) {
      const candidate = ready[(Math.random() * n) | 0] as CountedChild;
      if (candidate.active < best.active) best = candidate;
    }
    const result = best.leaf.getPicker().pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    const { onCallStarted, onCallEnded } = result;
    return {
      ...result,
      // onCallStarted runs once the call is on the wire, and then onCallEnded always runs.
      onCallStarted:
        onCallStarted === null
          ? best.started
          : () => {
              best.started();
              onCallStarted();
            },
      onCallEnded:
        onCallEnded === null
          ? best.ended
          : (code, details, metadata) => {
              best.ended();
              onCallEnded(code, details, metadata);
            },
    };
  }
}

/**
 * `least_request`: each call goes to the less busy of `choiceCount` endpoints drawn at random,
 * "busy" being this channel's calls in flight to it (Envoy's LEAST_REQUEST, gRFC A48). A slow
 * replica holds its calls longer, so it is drawn as often as the others but loses the draw.
 */
export class LeastRequestLoadBalancer extends EndpointBalancer<
  LeastRequestLoadBalancingConfig,
  CountedChild
> {
  constructor(helper: experimental.ChannelControlHelper) {
    super(helper, LEAST_REQUEST, LeastRequestLoadBalancingConfig);
  }

  protected newChild(base: EndpointChild): CountedChild {
    return countedChild(base);
  }

  protected readyPicker(children: readonly CountedChild[]): experimental.Picker {
    const ready = children.filter((child) => child.state === connectivityState.READY);
    return new LeastRequestPicker(ready, (this.config as LeastRequestLoadBalancingConfig).choiceCount);
  }
}
