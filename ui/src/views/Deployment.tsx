// One deployment as a timeline: phases and steps with their durations, the
// weights as they moved, gates with who decided and when, the error and
// what Cutover did about it. Live: its events stream in as they happen.
import { useEffect, useState } from "react";
import { api, onChange, useLive, type Session } from "../api";
import { ErrorNote } from "../notes";
import { duration, weightsText } from "../format";
import type { Deployment, DeploymentEvent } from "../types";
import { Decisions } from "./Decisions";

export function DeploymentView({ id, session }: { id: string; session: Session }) {
  const { data: d, error } = useLive(() => api<Deployment>("GET", `/v1/deployments/${id}`), [id], (c) => c.deploymentId === id);
  const events = useEvents(id);
  if (!d) return <ErrorNote error={error} />;
  const weightPoints = events
    .filter((e) => e.type === "deployment:step" || e.type === "deployment:traffic_intent" || e.type === "deployment:rolled_back")
    .map((e) => ({ at: Date.parse(e.at), weights: (e.data.weights as Record<string, number> | undefined) ?? undefined }))
    .filter((p): p is { at: number; weights: Record<string, number> } => !!p.weights);
  // The new color starts with no traffic when its deployment starts.
  const started = events.find((e) => e.type === "deployment:started");
  if (started && d.toColor && weightPoints.length > 0) weightPoints.unshift({ at: Date.parse(started.at), weights: { [d.toColor]: 0 } });
  // A rollback puts all traffic back on the old color before it removes the new fleet.
  const rolledBack = events.find((e) => e.type === "deployment:rolled_back");
  if (rolledBack && d.toColor && weightPoints.length > 0) weightPoints.push({ at: Date.parse(rolledBack.at), weights: { [d.toColor]: 0 } });
  return (
    <>
      <ErrorNote error={error} />
      <section aria-labelledby="summary">
        <h2 id="summary">
          {d.environment} → {d.version}
        </h2>
        <p>
          <span className={`badge state-${d.state}`} data-testid="state">
            {d.state}
          </span>{" "}
          phase {d.phase} · {d.strategy.type}
          {d.fromVersion ? ` · from ${d.fromVersion}` : ""} · {duration(d.startedAt ?? d.createdAt, d.finishedAt)}
        </p>
        {d.error && (
          <p className="error" role="alert">
            {d.error.message} <code>{d.error.code}</code>
          </p>
        )}
        <Decisions deployment={d} session={session} />
      </section>
      <section aria-labelledby="traffic">
        <h2 id="traffic">Traffic</h2>
        <WeightChart points={weightPoints} to={d.toColor} />
      </section>
      <AnalysisCharts deployment={d} events={events} />
      {d.gateLog && Object.keys(d.gateLog).length > 0 && (
        <section aria-labelledby="gates">
          <h2 id="gates">Gates</h2>
          <ul className="plain">
            {Object.entries(d.gateLog).map(([name, g]) => (
              <li key={name}>
                <strong>{name}</strong>: {g.state}
                {g.by ? ` by ${g.by.person ?? g.by.name}` : ""} at {new Date(g.at).toLocaleString()}
                {g.reason ? ` (${g.reason})` : ""}
                {g.preview && (
                  <ul>
                    {g.preview.stacks.map((s) => (
                      <li key={s.stack}>
                        {s.purpose}: {s.changes.length ? s.changes.map((c) => `${c.op} ${c.name}`).join(", ") : s.note ?? "no change"}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol className="timeline">
          {events.map((e, i) => (
            <li key={e.id} data-type={e.type}>
              <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> <span className="event">{e.type.replace(/^deployment:/, "")}</span>{" "}
              <span className="hint">{describe(e)}</span>
              {i > 0 && <span className="hint"> +{duration(events[i - 1].at, e.at)}</span>}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

function describe(e: DeploymentEvent): string {
  const d = e.data;
  if (d.weights) return weightsText(d.weights as Record<string, number>);
  if (d.phase) return String(d.phase);
  if (d.message) return String(d.message);
  if (d.gate) return `gate ${String(d.gate)}`;
  return "";
}

/** The deployment's events: what the journal holds, read again (only what is new) whenever the change stream names the deployment. */
function useEvents(id: string): DeploymentEvent[] {
  const [events, setEvents] = useState<DeploymentEvent[]>([]);
  useEffect(() => {
    let alive = true;
    let last = 0;
    let reading = Promise.resolve();
    setEvents([]);
    const read = () => {
      reading = reading.then(async () => {
        const got = await api<{ events: DeploymentEvent[] }>("GET", `/v1/deployments/${id}/events?after=${last}`).catch(() => ({ events: [] }));
        if (!alive || got.events.length === 0) return;
        last = got.events[got.events.length - 1].id;
        setEvents((list) => [...list, ...got.events]);
      });
    };
    read();
    const off = onChange((c) => c.deploymentId === id && read());
    const floor = window.setInterval(read, 10_000);
    return () => {
      alive = false;
      off();
      window.clearInterval(floor);
    };
  }, [id]);
  return events;
}

/** Weight of the new color over time, as an SVG step chart. */
export function WeightChart({ points, to }: { points: { at: number; weights: Record<string, number> }[]; to?: string }) {
  if (!to || points.length === 0) return <p className="hint">No traffic change yet.</p>;
  const w = 480;
  const h = 120;
  const t0 = points[0].at;
  const t1 = Math.max(points[points.length - 1].at, t0 + 1);
  const x = (t: number) => 30 + ((t - t0) / (t1 - t0)) * (w - 40);
  const y = (v: number) => h - 20 - (v / 100) * (h - 30);
  let path = "";
  points.forEach((p, i) => {
    const v = p.weights[to] ?? 0;
    path += i === 0 ? `M${x(p.at)},${y(v)}` : `H${x(p.at)}V${y(v)}`;
  });
  const last = points[points.length - 1].weights[to] ?? 0;
  return (
    <figure>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`weight of ${to} over time, now ${last}%`} className="chart" data-testid="weight-chart" data-last={last}>
        {[0, 50, 100].map((v) => (
          <g key={v}>
            <line x1={30} x2={w - 10} y1={y(v)} y2={y(v)} className="grid" />
            <text x={0} y={y(v) + 4} className="axis">
              {v}%
            </text>
          </g>
        ))}
        <path d={path} className="line" />
        {points.map((p) => (
          <circle key={p.at} cx={x(p.at)} cy={y(p.weights[to] ?? 0)} r={3} className="point" />
        ))}
      </svg>
      <figcaption>
        {to} now at {last}%
      </figcaption>
    </figure>
  );
}

interface MetricDefinition {
  name: string;
  successCondition?: string;
  failureCondition?: string;
}

/** Every analysed metric the strategy names (canary steps, waves, bake, pre-promotion), by name. */
function metricsOf(strategy: unknown): Map<string, MetricDefinition> {
  const found = new Map<string, MetricDefinition>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    if (Array.isArray(o.metrics)) for (const m of o.metrics as MetricDefinition[]) if (m && typeof m.name === "string") found.set(m.name, m);
    Object.values(o).forEach(visit);
  };
  visit(strategy);
  return found;
}

/** Each analysed metric's measurements over time against its condition; failed points marked. */
function AnalysisCharts({ deployment: d, events }: { deployment: Deployment; events: DeploymentEvent[] }) {
  const measured = events.filter((e) => e.type === "deployment:measurement");
  if (measured.length === 0) return null;
  const definitions = metricsOf(d.strategy);
  const byMetric = new Map<string, DeploymentEvent[]>();
  for (const e of measured) byMetric.set(String(e.data.metric), [...(byMetric.get(String(e.data.metric)) ?? []), e]);
  return (
    <section aria-labelledby="analysis">
      <h2 id="analysis">Analysis</h2>
      {[...byMetric].map(([metric, list]) => (
        <MeasurementChart key={metric} metric={metric} definition={definitions.get(metric)} measurements={list} />
      ))}
    </section>
  );
}

function MeasurementChart({ metric, definition, measurements }: { metric: string; definition?: MetricDefinition; measurements: DeploymentEvent[] }) {
  const points = measurements.map((e) => ({
    at: Date.parse(e.at),
    value: Array.isArray(e.data.value) && typeof e.data.value[0] === "number" ? (e.data.value[0] as number) : undefined,
    outcome: String(e.data.outcome),
  }));
  const values = points.flatMap((p) => (p.value === undefined ? [] : [p.value]));
  const w = 480;
  const h = 120;
  const lo = Math.min(0, ...values);
  const hi = Math.max(lo + 1e-9, ...values);
  const t0 = points[0].at;
  const t1 = Math.max(points[points.length - 1].at, t0 + 1);
  const x = (t: number) => 40 + ((t - t0) / (t1 - t0)) * (w - 50);
  const y = (v: number) => h - 20 - ((v - lo) / (hi - lo)) * (h - 30);
  const failed = points.filter((p) => p.outcome === "failed" || p.outcome === "error").length;
  const conditions = [definition?.successCondition && `success when ${definition.successCondition}`, definition?.failureCondition && `failure when ${definition.failureCondition}`].filter(Boolean).join("; ");
  return (
    <figure data-testid={`analysis-${metric}`} data-failed={failed} data-count={points.length}>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${metric}: ${points.length} measurements, ${failed} failed`} className="chart">
        <text x={0} y={y(hi) + 4} className="axis">
          {Number(hi.toPrecision(3))}
        </text>
        <text x={0} y={y(lo) + 4} className="axis">
          {Number(lo.toPrecision(3))}
        </text>
        <line x1={40} x2={w - 10} y1={y(lo)} y2={y(lo)} className="grid" />
        {points.map((p) =>
          p.value === undefined ? null : p.outcome === "failed" || p.outcome === "error" ? (
            <path key={p.at} d={`M${x(p.at) - 4},${y(p.value) - 4}l8,8m0,-8l-8,8`} className="failed-point">
              <title>{`${p.value} failed`}</title>
            </path>
          ) : (
            <circle key={p.at} cx={x(p.at)} cy={y(p.value)} r={3} className={`point ${p.outcome}`}>
              <title>{`${p.value} ${p.outcome}`}</title>
            </circle>
          ),
        )}
      </svg>
      <figcaption>
        <strong>{metric}</strong>: {points.length} measurements, {failed} failed{conditions ? ` (${conditions})` : ""}
      </figcaption>
    </figure>
  );
}
