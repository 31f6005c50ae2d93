// The REST API under /api/v1, with the bearer token from sessionStorage.

const TOKEN_KEY = 'flink-alert.token';

export interface ErrorDetail {
  code: string;
  message: string;
  field?: string | null;
}

/** An answer that is not 2xx, with the API's error body when it has one. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field: string | null,
    public body: unknown,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

export function token(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value: string | null): void {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

export interface Raw {
  status: number;
  body: unknown;
}

/** One request; never throws for HTTP statuses (only for network errors). */
export async function raw(method: string, path: string, body?: unknown, tokenOverride?: string): Promise<Raw> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const t = tokenOverride ?? token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const url = path.startsWith('/') ? path : `/api/v1/${path}`;
  const res = await fetch(url, { method, headers, body: payload, cache: 'no-store' });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/** A request whose non-2xx answers become [`ApiError`]s; a 401 also shows the login. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await raw(method, path, body);
  if (r.status >= 200 && r.status < 300) return r.body as T;
  throw toError(r);
}

export function toError(r: Raw): ApiError {
  const detail = (r.body as { error?: ErrorDetail } | null)?.error;
  if (r.status === 401) onUnauthorized();
  return new ApiError(
    r.status,
    detail?.code ?? `http_${r.status}`,
    detail?.message ?? `HTTP ${r.status}`,
    detail?.field ?? null,
    r.body,
  );
}

// The shapes the console uses (see docs/API.md).

export interface ParamSpec {
  name: string;
  type: 'string' | 'text' | 'url' | 'bool' | 'integer' | 'list' | 'enum' | string;
  required: boolean;
  default: unknown;
  secret: boolean;
  description: string;
  options?: string[];
}

export interface Plugin {
  kind: string;
  name: string;
  description: string;
  params: ParamSpec[];
}

export interface Instance {
  id: number;
  name: string;
  kind: string;
  enabled: boolean;
  params: Record<string, unknown>;
  rate_per_minute: number;
  provisioned?: boolean;
  created_at: string;
  updated_at: string;
}

/** A group's message template (docs/TEMPLATES.md); parts left out are the built-in ones. */
export interface Template {
  title?: string;
  text?: string;
  markdown?: string;
}

export interface Group {
  id: number;
  name: string;
  enabled: boolean;
  instance_ids: number[];
  template?: Template | null;
  provisioned?: boolean;
}

/** The answer of POST /api/v1/templates/preview. */
export interface TemplatePreview {
  title: string;
  text: string;
  markdown: string;
  severity: string;
  request?: {
    instance_id: number;
    instance: string;
    kind: string;
    method?: string;
    url?: string;
    body?: unknown;
    note?: string;
  };
}

export interface Binding {
  id: number;
  job: string;
  labels?: Record<string, string> | null;
  receiver?: string | null;
  per_alert?: boolean | null;
  cluster?: string | null;
  group_id: number;
  statuses: string[];
  provisioned?: boolean;
  created_at: string;
}

export interface Cluster {
  id: number;
  name: string;
  url: string;
  enabled: boolean;
  poll_interval_ms: number;
  provisioned?: boolean;
}

export interface HistoryEntry {
  id: number;
  event_id: number | null;
  job_id: string | null;
  job_name: string | null;
  status_change: string | null;
  instance_id: number;
  instance_name: string;
  kind: string;
  group_id: number | null;
  state: string;
  attempts: number;
  last_error: { kind?: string; code?: string; message?: string } | null;
  digest_id: number | null;
  silence_id?: number;
  cluster?: string | null;
  next_attempt_at: string | null;
  created_at: string;
  sent_at: string | null;
  message?: { title?: string; text?: string } | null;
}

/** A silence (`/api/v1/silences`). */
export interface Silence {
  id: number;
  state: 'pending' | 'active' | 'expired';
  matchers: { job: string; cluster?: string; statuses?: string[]; labels?: Record<string, string> };
  starts_at: string;
  ends_at: string;
  comment: string;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

/** A job event as `POST /api/v1/events` takes it. */
export interface JobEventBody {
  job_id: string;
  job_name: string;
  cluster?: string;
  status: string;
  previous_status?: string;
  occurred_at?: string;
  duration_ms?: number;
  error?: string;
  url?: string;
  labels?: Record<string, string>;
  group_id?: number;
}

/** What became of one posted event. */
export interface EventAccepted {
  event_id: number;
  deliveries: number;
  duplicate?: boolean;
  silence_id?: number;
}

/** Posts up to 1000 events in one request: all stored, or none (the error names the item). */
export async function postEvents(events: JobEventBody[]): Promise<EventAccepted[]> {
  const answer = await api<{ events: EventAccepted[] }>('POST', '/api/v1/events', events);
  return answer.events;
}

export const JOB_STATUSES = ['FAILED', 'CANCELED', 'FINISHED', 'STOPPED', 'UNKNOWN', 'RESTARTING', 'RUNNING'];
export const DEFAULT_STATUSES = ['FAILED', 'CANCELED', 'FINISHED', 'UNKNOWN', 'STOPPED'];
export const MASK = '******';
