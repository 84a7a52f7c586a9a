// A loopback Hugging Face Hub for tests: two node:http servers on 127.0.0.1 (port 0), the Hub and
// a CDN on another origin, answering as the real ones do:
//   GET  /api/models/{org}/{name}/revision/{rev}   → {_id, id, sha, siblings: [{rfilename}], …}
//   HEAD|GET /{org}/{name}/resolve/{rev}/{path}    → a git file: 200 with ETag "<git blob sha1>",
//        Content-Length, X-Repo-Commit (GET: the bytes, Range honoured); an LFS file: 302 to the
//        CDN with X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
//   GET  (CDN) /lfs/{sha256}?X-Amz-Signature=…     → the bytes, Accept-Ranges, 206 + Content-Range;
//        400 if an Authorization header comes along (presigned URLs refuse a second credential)
//   errors: 401/403/404 with X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound,
//        GatedRepo), X-Error-Message, and a JSON {"error"} body on GETs.
// Faults to inject: cut a blob's transfer after N bytes, corrupt a blob's bytes, slow a transfer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FakeRepoOptions {
  /** Branch name → files; default one branch, main. */
  branch?: string;
  /** Files stored with LFS (default: *.onnx, *.onnx_data*, *.onnx.data, *.bin, *.safetensors). */
  isLfs?: (path: string) => boolean;
  /** Needs a token in `tokens`; anonymous callers get 401 RepoNotFound, like the Hub. */
  private?: boolean;
  /** Gated: anonymous → 401 GatedRepo; a token not in `accepted` → 403 GatedRepo. */
  gated?: boolean;
  /** Tokens whose account accepted the license of a gated repo. */
  accepted?: string[];
}

interface FakeFile {
  data: Buffer;
  lfs: boolean;
  /** sha256 (LFS) or git blob sha1. */
  etag: string;
}

interface FakeRepo {
  id: string;
  commits: Map<string, Map<string, FakeFile>>;
  branches: Map<string, string>;
  opts: FakeRepoOptions;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

const defaultLfs = (p: string) => /\.(onnx|bin|safetensors)$|\.onnx(_data(_\d+)?|\.data)$/.test(p);

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function gitBlobSha1(b: Buffer): string {
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** Repo renames: old id → new id (answered with a relative 307, as the Hub does). */
  readonly renamed = new Map<string, string>();
  readonly tokens = new Set<string>();
  readonly log: LoggedRequest[] = [];
  /** sha256 → bytes after which the CDN drops the connection (each entry used `times` times). */
  readonly cut = new Map<string, { after: number; times: number }>();
  /** sha256s whose bytes the CDN alters (same length, one byte flipped). */
  readonly corrupt = new Set<string>();
  /** The CDN writes blobs in chunks of this many bytes with `delayMs` between (0: all at once). */
  throttle = { chunk: 0, delayMs: 0 };
  /** Repo path → the ETag to claim for it instead of the real one (a broken or hostile mirror). */
  readonly fakeEtag = new Map<string, string>();
  /** When set, the CDN holds each answer until `until()` is true (polled; at most `timeoutMs`). */
  holdCdn: { until: () => boolean; timeoutMs: number } | null = null;

  private constructor(
    private readonly hub: Server,
    private readonly cdn: Server,
  ) {}

  static async start(): Promise<FakeHub> {
    const hub = createServer();
    const cdn = createServer();
    const h = new FakeHub(hub, cdn);
    hub.on('request', (req, res) => h.onHub(req, res));
    cdn.on('request', (req, res) => h.onCdn(req, res));
    await Promise.all([hub, cdn].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    return h;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  get cdnUrl(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) s.closeAllConnections();
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Adds a commit with `files` to `repo` (created on first use) and points the branch at it; returns the commit. */
  addRepo(id: string, files: Record<string, Buffer>, opts: FakeRepoOptions = {}): string {
    let repo = this.repos.get(id);
    if (!repo) {
      repo = { id, commits: new Map(), branches: new Map(), opts };
      this.repos.set(id, repo);
    } else repo.opts = { ...repo.opts, ...opts };
    const isLfs = opts.isLfs ?? defaultLfs;
    const tree = new Map<string, FakeFile>();
    const h = createHash('sha1').update(id).update(String(repo.commits.size));
    for (const [path, data] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const lfs = isLfs(path);
      const etag = lfs ? sha256(data) : gitBlobSha1(data);
      tree.set(path, { data, lfs, etag });
      h.update(path).update(etag);
    }
    const commit = h.digest('hex');
    repo.commits.set(commit, tree);
    repo.branches.set(opts.branch ?? 'main', commit);
    return commit;
  }

  /** The stored file, for assertions. */
  file(id: string, path: string, rev = 'main'): FakeFile {
    const repo = this.repos.get(id)!;
    const commit = repo.branches.get(rev) ?? rev;
    return repo.commits.get(commit)!.get(path)!;
  }

  requests(filter: Partial<LoggedRequest> = {}): LoggedRequest[] {
    return this.log.filter((r) => Object.entries(filter).every(([k, v]) => r[k as keyof LoggedRequest] === v));
  }

  // -------------------------------------------------------------------------------------------

  private record(server: 'hub' | 'cdn', req: IncomingMessage): void {
    this.log.push({
      server,
      method: req.method ?? 'GET',
      url: req.url ?? '',
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  private error(req: IncomingMessage, res: ServerResponse, status: number, code: string | null, message: string, commit?: string): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'X-Error-Message': message };
    if (code) headers['X-Error-Code'] = code;
    if (commit) headers['X-Repo-Commit'] = commit;
    const body = JSON.stringify({ error: message });
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** Checks access to a repo; answers the error and returns false when refused. */
  private allowed(req: IncomingMessage, res: ServerResponse, repo: FakeRepo | undefined, id: string): repo is FakeRepo {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (token !== undefined && !this.tokens.has(token)) {
      this.error(req, res, 401, null, 'Invalid credentials in Authorization header');
      return false;
    }
    if (!repo || (repo.opts.private && token === undefined)) {
      // The Hub does not tell anonymous callers whether a repo exists.
      this.error(req, res, token === undefined ? 401 : 404, 'RepoNotFound', 'Repository not found');
      return false;
    }
    if (repo.opts.gated) {
      if (token === undefined) {
        this.error(req, res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
        return false;
      }
      if (!repo.opts.accepted?.includes(token)) {
        this.error(req, res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`);
        return false;
      }
    }
    return true;
  }

  private onHub(req: IncomingMessage, res: ServerResponse): void {
    this.record('hub', req);
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').slice(1);
    // /api/models/{org}/{name}/revision/{rev}
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision' && parts.length === 6) {
      const id = `${parts[2]}/${parts[3]}`;
      if (this.renamed.has(id)) return this.redirect(res, `/api/models/${this.renamed.get(id)}/revision/${parts[5]}${url.search}`);
      const repo = this.repos.get(id);
      if (!this.allowed(req, res, repo, id)) return;
      const rev = decodeURIComponent(parts[5]);
      const commit = repo.branches.get(rev) ?? (repo.commits.has(rev) ? rev : null);
      if (!commit) return this.error(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const body = JSON.stringify({
        _id: createHash('md5').update(id).digest('hex').slice(0, 24),
        id,
        private: !!repo.opts.private,
        gated: repo.opts.gated ? 'manual' : false,
        downloads: 0,
        likes: 0,
        lastModified: '2025-01-01T00:00:00.000Z',
        pipeline_tag: 'text-generation',
        sha: commit,
        siblings: [...repo.commits.get(commit)!.keys()].map((rfilename) => ({ rfilename })),
      });
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    // /{org}/{name}/resolve/{rev}/{path...}
    if (parts[2] === 'resolve' && parts.length >= 5) {
      const id = `${parts[0]}/${parts[1]}`;
      if (this.renamed.has(id)) return this.redirect(res, `/${this.renamed.get(id)}/${parts.slice(2).join('/')}`);
      const repo = this.repos.get(id);
      if (!this.allowed(req, res, repo, id)) return;
      const rev = decodeURIComponent(parts[3]);
      const commit = repo.branches.get(rev) ?? (repo.commits.has(rev) ? rev : null);
      if (!commit) return this.error(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const path = parts.slice(4).map(decodeURIComponent).join('/');
      const f = repo.commits.get(commit)!.get(path);
      if (!f) return this.error(req, res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`, commit);
      if (f.lfs) {
        res.writeHead(302, {
          Location: `${this.cdnUrl}/lfs/${f.etag}?X-Amz-Signature=fake&X-Amz-Expires=3600`,
          'X-Repo-Commit': commit,
          'X-Linked-Etag': `"${this.fakeEtag.get(path) ?? f.etag}"`,
          'X-Linked-Size': String(f.data.length),
          ETag: `W/"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${f.etag}\nsize ${f.data.length}\n`))}"`,
          'Content-Length': '0',
        });
        return void res.end();
      }
      return this.sendBytes(req, res, f.data, { 'X-Repo-Commit': commit, ETag: `"${this.fakeEtag.get(path) ?? f.etag}"` }, null);
    }
    this.error(req, res, 404, null, 'Not Found');
  }

  private redirect(res: ServerResponse, location: string): void {
    res.writeHead(307, { Location: location, 'Content-Length': '0' });
    res.end();
  }

  private onCdn(req: IncomingMessage, res: ServerResponse): void {
    this.record('cdn', req);
    const url = new URL(req.url ?? '/', this.cdnUrl);
    if (req.headers.authorization) {
      res.writeHead(400, { 'Content-Type': 'application/xml' });
      return void res.end('<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>');
    }
    const m = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    let data: Buffer | null = null;
    if (m) {
      for (const repo of this.repos.values()) for (const tree of repo.commits.values()) for (const f of tree.values()) if (f.etag === m[1]) data = f.data;
    }
    if (!m || !data) {
      res.writeHead(404, { 'Content-Type': 'application/xml' });
      return void res.end('<Error><Code>NoSuchKey</Code></Error>');
    }
    if (this.holdCdn) {
      const { until, timeoutMs } = this.holdCdn;
      const t0 = Date.now();
      const poll = (): void => {
        if (until() || Date.now() - t0 > timeoutMs) this.serveBlob(req, res, data!, m[1]);
        else setTimeout(poll, 20);
      };
      return poll();
    }
    this.serveBlob(req, res, data, m[1]);
  }

  private serveBlob(req: IncomingMessage, res: ServerResponse, data: Buffer, key: string): void {
    if (this.corrupt.has(key)) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    this.sendBytes(req, res, data, { ETag: `"${key}"` }, key);
  }

  /** 200 or 206 (Range: bytes=N- / N-M), applying the cut / throttle faults on the CDN. */
  private sendBytes(req: IncomingMessage, res: ServerResponse, data: Buffer, headers: Record<string, string>, cdnKey: string | null): void {
    let start = 0;
    let end = data.length - 1;
    let status = 200;
    const range = req.headers.range;
    const base = { ...headers, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (range) {
      const r = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!r || Number(r[1]) >= data.length) {
        res.writeHead(416, { ...base, 'Content-Range': `bytes */${data.length}`, 'Content-Length': '0' });
        return void res.end();
      }
      start = Number(r[1]);
      end = r[2] ? Math.min(Number(r[2]), data.length - 1) : data.length - 1;
      status = 206;
    }
    const body = data.subarray(start, end + 1);
    res.writeHead(status, {
      ...base,
      'Content-Length': String(body.length),
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${data.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const cut = cdnKey ? this.cut.get(cdnKey) : undefined;
    let limit = body.length;
    if (cut && cut.times > 0 && cut.after > start && cut.after < start + body.length) {
      cut.times--;
      limit = cut.after - start;
    }
    const { chunk, delayMs } = this.throttle;
    const step = chunk > 0 ? chunk : limit;
    let pos = 0;
    const pump = () => {
      if (res.destroyed) return;
      const n = Math.min(step, limit - pos);
      if (n > 0) res.write(body.subarray(pos, pos + n));
      pos += n;
      if (pos < limit) return void (delayMs > 0 ? setTimeout(pump, delayMs) : setImmediate(pump));
      if (limit < body.length) {
        // Drop the connection mid-body, after the bytes written so far have gone out.
        res.socket?.end(() => res.socket?.destroy());
        return;
      }
      res.end();
    };
    pump();
  }
}
