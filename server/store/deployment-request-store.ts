// Requests to running deployments (promote, pause, resume, abort) made on
// one replica and carried out by the replica that runs the deployment.
import type { Actor } from "../deployments/model";
import type { DeploymentAction, DeploymentRequest, DeploymentRequestRepository } from "../deployments/ports";
import type { JournalDb } from "./database";

export class DeploymentRequestStore implements DeploymentRequestRepository {
  constructor(private readonly db: JournalDb) {}

  async add(r: DeploymentRequest): Promise<void> {
    await this.db
      .insertInto("deployment_requests")
      .values({
        deployment_id: r.deploymentId,
        action: r.action,
        reason: r.reason ?? null,
        gate: r.gate ?? null,
        actor: r.by ? JSON.stringify(r.by) : null,
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  async take(deploymentId: string): Promise<DeploymentRequest[]> {
    const rows = await this.db.deleteFrom("deployment_requests").where("deployment_id", "=", deploymentId).returning(["id", "action", "reason", "gate", "actor"]).execute();
    return rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((r) => ({
        deploymentId,
        action: r.action as DeploymentAction,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(r.gate ? { gate: r.gate } : {}),
        ...(r.actor ? { by: JSON.parse(r.actor) as Actor } : {}),
      }));
  }
}
