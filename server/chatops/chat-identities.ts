// Links chat users to Cutover principals. A linked user acts with the role
// and environment scope of its link, exactly as a token with them would;
// an admin may link only within its own role and scope.
import { randomBytes } from "node:crypto";
import type { Principal, TokenService } from "../auth/token-service";
import { ConflictError, NotFoundError } from "../errors";
import type { Actor } from "../deployments/model";
import type { ChatIdentity, ChatIdentityRepository, ChatProvider } from "./ports";

export interface LinkRequest {
  provider: ChatProvider;
  team: string;
  user: string;
  role: ChatIdentity["role"];
  environments?: string[];
  person?: string;
}

export class ChatIdentityService {
  constructor(
    private readonly store: ChatIdentityRepository,
    private readonly tokens: TokenService,
  ) {}

  async link(admin: Principal, input: LinkRequest): Promise<ChatIdentity> {
    this.tokens.assertMintable(admin, input);
    const identity: ChatIdentity = {
      id: `chi_${randomBytes(8).toString("hex")}`,
      ...input,
      createdAt: new Date().toISOString(),
    };
    if (!(await this.store.insert(identity))) {
      throw new ConflictError("identity_exists", `${input.provider} user ${input.user} of team ${input.team} is already linked; delete the link first`, {
        provider: input.provider,
        team: input.team,
        user: input.user,
      });
    }
    return identity;
  }

  async list(admin: Principal): Promise<ChatIdentity[]> {
    return (await this.store.list()).filter((i) => this.tokens.covers(admin, i.environments));
  }

  async unlink(admin: Principal, id: string): Promise<ChatIdentity> {
    const identity = (await this.store.list()).find((i) => i.id === id);
    if (!identity || !this.tokens.covers(admin, identity.environments) || !(await this.store.remove(id))) {
      throw new NotFoundError("identity_not_found", `no chat identity ${id}`, { identity: id });
    }
    return identity;
  }

  /** The principal a linked identity stands for now; undefined once unlinked. */
  async principalById(id: string): Promise<Principal | undefined> {
    const identity = (await this.store.list()).find((i) => i.id === id);
    return identity && principalOfIdentity(identity);
  }

  find(provider: ChatProvider, team: string, user: string): Promise<ChatIdentity | undefined> {
    return this.store.find(provider, team, user);
  }
}

export const principalOfIdentity = (i: ChatIdentity): Principal => ({
  id: i.id,
  name: `${i.provider}:${i.team}/${i.user}`,
  role: i.role,
  ...(i.environments ? { environments: i.environments } : {}),
  ...(i.person ? { person: i.person } : {}),
});

export const actorOfIdentity = (i: ChatIdentity, userName?: string): Actor => ({
  kind: "chat",
  id: i.id,
  name: userName ? `${userName} (${i.user})` : i.user,
  provider: i.provider,
  person: i.person ?? `chat:${i.provider}:${i.team}/${i.user}`,
});
