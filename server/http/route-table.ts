// A route is declared once, with its schemas, action (or, for routes that
// act on no one environment, role) and handler; the same declaration
// registers it on express and describes it in /openapi.json. A route's
// least role comes from the action policy, so it cannot disagree with the
// check its handler makes.
import type { Request, Response } from "express";
import type { z } from "zod";
import { POLICY, type Action } from "../auth/authorization";
import type { Role } from "../auth/token-service";

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  location?: string;
  /** A call that changed nothing (a dry run) is not audited as the route's action. */
  changedNothing?: true;
}

export interface Route {
  method: "get" | "post" | "put" | "delete";
  path: string;
  summary: string;
  /** The least role that may call it; scope (and the action itself) is checked by the handler for environment routes. */
  role: Role;
  /** The action it takes on an environment, when it takes one: its role is the policy's. */
  action?: Action;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  success: number;
  errors: string[];
  /** The audit log's name for what a successful call did (mutating routes). */
  audit?: string;
  /** Handlers that write the response themselves (streams) return undefined. */
  // Each route's handler is typed by its own schemas in route(); the table holds them side by side.
  handle(ctx: RouteContext<any, any, any>): Promise<RouteResult | undefined> | RouteResult | undefined;
}

export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(
  r: {
    method: Route["method"];
    path: string;
    summary: string;
  } & ({ action: Action; role?: never } | { role: Role; action?: never }) & RouteBody<P, Q, B>,
): Route {
  return { ...r, role: r.action ? POLICY[r.action] : r.role!, errors: r.errors ?? [] } as Route;
}

interface RouteBody<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  params?: P;
  query?: Q;
  body?: B;
  success: number;
  errors?: string[];
  audit?: string;
  handle(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<RouteResult | undefined> | RouteResult | undefined;
}
