// What the flag domain needs from storage.
import type { Flag, FlagChange } from "./flag-model";

export interface FlagRepository {
  list(environment: string): Promise<Flag[]>;
  get(environment: string, key: string): Promise<Flag | undefined>;
  /**
   * Writes the flag and its history entry together, if the stored version
   * is still `expectedVersion` (0: the flag must not exist yet). Announces
   * the change to every replica. False when another writer came first.
   */
  save(flag: Flag, change: Omit<FlagChange, "id">, expectedVersion: number): Promise<boolean>;
  /** Deletes the flag at `expectedVersion` and records the deletion; false when it changed meanwhile. */
  remove(environment: string, key: string, change: Omit<FlagChange, "id">, expectedVersion: number): Promise<boolean>;
  /** Newest first. */
  history(environment: string, key: string, limit: number): Promise<FlagChange[]>;
}
