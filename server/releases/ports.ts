// What the release domain needs from the outside: somewhere to keep releases.
import type { Release } from "./release";

export interface ReleaseRepository {
  /** Records a release; false when one with its version exists already (nothing written). */
  insert(release: Release): Promise<boolean>;
  get(id: string): Promise<Release | undefined>;
  byVersion(version: string): Promise<Release | undefined>;
  /** Newest first. */
  list(opts: { limit: number; before?: string }): Promise<Release[]>;
}
