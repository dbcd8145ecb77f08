// Requests to running deployments (promote, pause, resume, abort) made on
// one replica and carried out by the replica that runs the deployment.
import type { DeploymentAction, DeploymentRequest, DeploymentRequestRepository } from "../deployments/ports";
import type { JournalDb } from "./database";

export class DeploymentRequestStore implements DeploymentRequestRepository {
  constructor(private readonly db: JournalDb) {}

  async add(r: DeploymentRequest): Promise<void> {
    await this.db
      .insertInto("deployment_requests")
      .values({ deployment_id: r.deploymentId, action: r.action, reason: r.reason ?? null, created_at: new Date().toISOString() })
      .execute();
  }

  async take(deploymentId: string): Promise<DeploymentRequest[]> {
    const rows = await this.db.deleteFrom("deployment_requests").where("deployment_id", "=", deploymentId).returning(["id", "action", "reason"]).execute();
    return rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((r) => ({ deploymentId, action: r.action as DeploymentAction, reason: r.reason ?? undefined }));
  }
}
