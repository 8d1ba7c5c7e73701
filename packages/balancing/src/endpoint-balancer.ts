import { type ChannelOptions, connectivityState, experimental } from '@grpc/grpc-js';

type ChannelControlHelper = experimental.ChannelControlHelper;
type Endpoint = experimental.Endpoint;
type Picker = experimental.Picker;
type TypedLoadBalancingConfig = experimental.TypedLoadBalancingConfig;
type LeafLoadBalancer = experimental.LeafLoadBalancer;

/** One endpoint of the list the resolver gave: a pick-first child balancer and its name. */
export interface EndpointChild {
  /** `endpointToString(endpoint)`: stable across address list updates, so the key for the child. */
  readonly name: string;
  readonly leaf: LeafLoadBalancer;
  state: connectivityState;
}

/**
 * What `least_request` and `consistent_hash` share, as grpc-js's `round_robin` and
 * `weighted_round_robin` do inside their own classes: one `LeafLoadBalancer` (pick-first) per
 * endpoint, kept connected; children kept across address list updates (an endpoint that stays
 * keeps its connection and its state), and the channel's state aggregated from theirs: READY if
 * one is, else CONNECTING if one is, else TRANSIENT_FAILURE if one is, else IDLE.
 * A subclass builds the READY picker from the children.
 */
export abstract class EndpointBalancer<Config extends TypedLoadBalancingConfig, Child extends EndpointChild>
  implements experimental.LoadBalancer
{
  protected readonly children = new Map<string, Child>();
  protected config: Config | undefined = undefined;
  private updatesPaused = false;
  private state: connectivityState = connectivityState.IDLE;
  private lastError: string | null = null;

  /**
   * @param name the policy's registered name
   * @param configClass its config class: grpc-js hands a balancer only its own config, but checks
   */
  constructor(
    private readonly helper: ChannelControlHelper,
    private readonly name: string,
    private readonly configClass: abstract new (...args: never[]) => Config,
  ) {}

  getTypeName(): string {
    return this.name;
  }
  /** Extends a new child with the subclass's fields. */
  protected abstract newChild(base: EndpointChild): Child;
  /** The picker while at least one child is READY; `children` are all of them, in address list order. */
  protected abstract readyPicker(children: readonly Child[]): Picker;

  updateAddressList(
    endpoints: experimental.StatusOr<Endpoint[]>,
    config: TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(config instanceof this.configClass)) return false;
    if (!endpoints.ok) {
      // A resolver error with endpoints still in hand: keep using them.
      if (this.children.size === 0) this.fail(endpoints.error.details);
      return true;
    }
    if (endpoints.value.length === 0) {
      // As round_robin: an empty list drops every connection (a resolver that lost all its
      // endpoints, e.g. weft's etcd:///, relies on it), and calls fail instead of waiting.
      this.destroy();
      this.fail(`No addresses resolved. Resolution note: ${resolutionNote}`);
      return false;
    }
    this.config = config;
    this.updatesPaused = true;
    const seen = new Set<string>();
    const ordered = new Map<string, Child>();
    for (const endpoint of endpoints.value) {
      const name = experimental.endpointToString(endpoint);
      if (seen.has(name)) continue;
      seen.add(name);
      let child = this.children.get(name);
      if (child === undefined) child = this.createChild(name, endpoint, options, resolutionNote);
      else child.leaf.updateEndpoint(endpoint, options);
      ordered.set(name, child);
    }
    for (const [name, child] of this.children) if (!seen.has(name)) child.leaf.destroy();
    this.children.clear();
    for (const [name, child] of ordered) {
      this.children.set(name, child);
      child.leaf.startConnecting();
    }
    this.updatesPaused = false;
    this.refresh();
    return true;
  }

  private createChild(name: string, endpoint: Endpoint, options: ChannelOptions, note: string): Child {
    let child: Child | undefined;
    const helper = experimental.createChildChannelControlHelper(this.helper, {
      updateState: (state, _picker, errorMessage) => {
        // As round_robin: ask for a new address list when a connection that was in use drops.
        if (this.state === connectivityState.READY && state !== connectivityState.READY) {
          this.helper.requestReresolution();
        }
        if (errorMessage) this.lastError = errorMessage;
        if (child !== undefined) {
          child.state = state;
          this.refresh();
        }
      },
    });
    const leaf = new experimental.LeafLoadBalancer(endpoint, helper, options, note);
    child = this.newChild({ name, leaf, state: leaf.getConnectivityState() });
    return child;
  }

  /** Recomputes the channel's state and picker from the children's. */
  protected refresh(): void {
    if (this.updatesPaused || this.config === undefined) return;
    const children = [...this.children.values()];
    let ready = false;
    let connecting = false;
    let failing = false;
    for (const child of children) {
      if (child.state === connectivityState.READY) ready = true;
      else if (child.state === connectivityState.CONNECTING) connecting = true;
      else if (child.state === connectivityState.TRANSIENT_FAILURE) failing = true;
    }
    if (ready) this.update(connectivityState.READY, this.readyPicker(children), null);
    else if (connecting) this.update(connectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    else if (failing)
      this.fail(`${this.getTypeName()}: No connection established. Last error: ${this.lastError}`);
    else this.update(connectivityState.IDLE, new experimental.QueuePicker(this), null);
    // Keep every endpoint connected (as round_robin does): a pick must never wait for a connection.
    for (const child of children) if (child.state === connectivityState.IDLE) child.leaf.exitIdle();
  }

  private fail(details: string): void {
    this.update(
      connectivityState.TRANSIENT_FAILURE,
      new experimental.UnavailablePicker({ details }),
      details,
    );
  }

  private update(state: connectivityState, picker: Picker, errorMessage: string | null): void {
    this.state = state;
    this.helper.updateState(state, picker, errorMessage);
  }

  exitIdle(): void {
    // Children leave IDLE on their own (refresh); with no children there is nothing to connect to.
  }

  resetBackoff(): void {
    // No backoff of its own; the children's subchannels have theirs.
  }

  destroy(): void {
    for (const child of this.children.values()) child.leaf.destroy();
    this.children.clear();
  }
}
