// Chat identities and the threads deployments report to. A thread's
// response_url is a capability (anyone holding it may post to the channel),
// so it is kept sealed.
import type { Selectable } from "kysely";
import type { ChatIdentity, ChatIdentityRepository, ChatProvider, ChatThread, ChatThreadRepository } from "../chatops/ports";
import type { SecretSealer } from "../deployments/ports";
import type { JournalDb } from "./database";
import type { ChatIdentitiesTable } from "./schema";

const fromRow = (r: Selectable<ChatIdentitiesTable>): ChatIdentity => ({
  id: r.id,
  provider: r.provider as ChatProvider,
  team: r.team,
  user: r.user_id,
  role: r.role as ChatIdentity["role"],
  ...(r.environments ? { environments: JSON.parse(r.environments) as string[] } : {}),
  ...(r.person ? { person: r.person } : {}),
  createdAt: r.created_at,
});

export class ChatIdentityStore implements ChatIdentityRepository {
  constructor(private readonly db: JournalDb) {}

  async insert(i: ChatIdentity): Promise<boolean> {
    const result = await this.db
      .insertInto("chat_identities")
      .values({
        id: i.id,
        provider: i.provider,
        team: i.team,
        user_id: i.user,
        role: i.role,
        environments: i.environments ? JSON.stringify(i.environments) : null,
        created_at: i.createdAt,
        person: i.person ?? null,
      })
      .onConflict((oc) => oc.columns(["provider", "team", "user_id"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async find(provider: ChatProvider, team: string, user: string): Promise<ChatIdentity | undefined> {
    const row = await this.db
      .selectFrom("chat_identities")
      .selectAll()
      .where("provider", "=", provider)
      .where("team", "=", team)
      .where("user_id", "=", user)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(): Promise<ChatIdentity[]> {
    return (await this.db.selectFrom("chat_identities").selectAll().orderBy("created_at").execute()).map(fromRow);
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom("chat_identities").where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}

export class ChatThreadStore implements ChatThreadRepository {
  constructor(
    private readonly db: JournalDb,
    private readonly secrets: SecretSealer,
  ) {}

  async add(t: ChatThread): Promise<void> {
    await this.db
      .insertInto("chat_threads")
      .values({
        deployment_id: t.deploymentId,
        provider: t.provider,
        response_url: t.responseUrl ? this.secrets.seal(t.responseUrl) : null,
        channel: t.channel ?? null,
        message_ts: t.messageTs ?? null,
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  async forDeployment(deploymentId: string): Promise<ChatThread[]> {
    const rows = await this.db.selectFrom("chat_threads").selectAll().where("deployment_id", "=", deploymentId).orderBy("id").execute();
    return rows.map((r) => ({
      deploymentId,
      provider: r.provider as ChatProvider,
      ...(r.response_url ? { responseUrl: this.secrets.open(r.response_url) } : {}),
      ...(r.channel ? { channel: r.channel } : {}),
      ...(r.message_ts ? { messageTs: r.message_ts } : {}),
    }));
  }

  async setMessageTs(deploymentId: string, channel: string, ts: string): Promise<void> {
    await this.db.updateTable("chat_threads").set({ message_ts: ts }).where("deployment_id", "=", deploymentId).where("channel", "=", channel).execute();
  }
}
