// What the controller asks about sharding, and all it asks: "do I own this key?", and to be told
// when keys come and go. Losing a key aborts its reconcile and poll through the controller's own
// signals (the listener's `lost`), so no separate fence signal is threaded through every call.

export interface Ownership {
  /** This replica may poll, reconcile and write the ScaledObject `namespace/name` now. */
  owns(key: string): boolean;
  /** Tells the controller of keys gained and lost; only one listener. */
  listen(listener: OwnershipListener): void;
}

export interface OwnershipListener {
  /** Keys for which `owns` turned true: reconcile them. */
  gained(owned: (key: string) => boolean): void;
  /** Keys no longer owned: stop all work on them; the promise settles once no write can follow. */
  lost(lost: (key: string) => boolean): Promise<void>;
}

/** A single replica (no Leases): it owns every key, for ever. */
export const OWNS_EVERYTHING: Ownership = {
  owns: () => true,
  listen: () => undefined,
};
