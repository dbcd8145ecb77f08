// What the release domain needs from the outside: somewhere to keep releases.
import type { Hold, Pipeline } from "./pipeline";
import type { Release } from "./release";

export interface ReleaseRepository {
  /** Records a release; false when one with its version exists already (nothing written). */
  insert(release: Release): Promise<boolean>;
  get(id: string): Promise<Release | undefined>;
  byVersion(version: string): Promise<Release | undefined>;
  /** Newest first. */
  list(opts: { limit: number; before?: string }): Promise<Release[]>;
}

export interface PipelineRepository {
  /** Creates or replaces a pipeline; true when it was created. */
  put(pipeline: Pipeline): Promise<boolean>;
  get(name: string): Promise<Pipeline | undefined>;
  list(): Promise<Pipeline[]>;
  /** Sets (or, with undefined, removes) the hold on automatic promotion into a stage. */
  setHold(name: string, stage: string, hold: Hold | undefined): Promise<void>;
}

/** Things said once, whichever replica sees them first (a release eligible for a stage). */
export interface AnnouncementRepository {
  /** True for the first caller with `key`, false for every later one. */
  once(key: string): Promise<boolean>;
}
