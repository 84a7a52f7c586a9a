#!/usr/bin/env python3
"""Trains a Llama-architecture decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention) on ids that
tools/train/prepare.ts wrote, and writes a llama2.c legacy checkpoint that `lens export llama2c`
turns into a model folder.

    /usr/bin/python3 tools/train/train.py --config tools/train/configs/NAME.json \
        --data .cache/train/data/NAME --out .cache/train/runs/NAME [--device cpu|cuda] [--max-steps N]

The architecture is exactly what the exporter writes for llama2.c checkpoints: RMSNorm eps 1e-5,
RoPE over interleaved pairs (x[2i], x[2i+1]) with theta 10000, SwiGLU FFN w2(silu(w1 x) * w3 x),
classifier tied to the token embedding, no biases. Optional model config "head_combine":
"product-all" | "product-group" (attention heads combined as a product; `lens export --head-combine`).

Training samples windows [BOS] + train[i : i + T - 1] (every scoring window in the product starts
with BOS). Resumable: OUT/ckpt.pt holds model, optimizer, step, RNG state and elapsed wall time;
rerunning the same command continues from it. Seeded: the same config on the same device repeats.
Writes OUT/model.bin (llama2.c, float32), OUT/run.json (facts of the run) and appends to OUT/train.log.
The final evaluation scores the validation split exactly as the TypeScript engine's scoreText does
(each document [BOS] + ids, sliding windows of seq_len keeping seq_len/2 tokens of context), so
the numbers it states are the numbers `lens score` reproduces.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(head_dim, seq_len, theta=10000.0):
    """cos, sin: [seq_len, head_dim/2] (llama2.c's freq_cis_real / freq_cis_imag)."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    t = torch.arange(seq_len).float()
    angles = torch.outer(t, freqs)  # [seq_len, head_dim/2]
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x, cos, sin):
    """x: [B, T, H, hd]; rotates interleaved pairs (x[2i], x[2i+1]) by position."""
    xr = x.float().reshape(*x.shape[:-1], -1, 2)  # [B, T, H, hd/2, 2]
    a, b = xr[..., 0], xr[..., 1]
    c = cos[None, :, None, :]  # [1, T, 1, hd/2]
    s = sin[None, :, None, :]
    out = torch.stack([a * c - b * s, a * s + b * c], dim=-1)  # [B, T, H, hd/2, 2]
    return out.flatten(3).type_as(x)


HEAD_COMBINE = ('standard', 'product-all', 'product-group')


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg['n_heads']
        self.n_kv_heads = cfg['n_kv_heads']
        self.head_dim = cfg['dim'] // cfg['n_heads']
        d = cfg['dim']
        self.wq = nn.Linear(d, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(d, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(d, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, d, bias=False)
        self.dropout = cfg.get('dropout', 0.0)  # on the attention output (residual branch)
        self.attn_dropout = cfg.get('attn_dropout', 0.0)  # on the attention probabilities (costly on CPU)
        # 'standard': each head its own softmax. 'product-all': one distribution for every head,
        # softmax of the mean over heads of the scaled scores (the normalised geometric mean of the
        # heads' distributions); 'product-group': the same within each group of heads sharing a KV
        # head. Each head still reads its own values. `lens export --head-combine` builds the same graph.
        self.head_combine = cfg.get('head_combine', 'standard')
        if self.head_combine not in HEAD_COMBINE:
            raise ValueError(f'head_combine {self.head_combine!r} is not one of {HEAD_COMBINE}')

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.n_heads // self.n_kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=2)  # [B, T, H, hd]
            v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, hd]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))  # [B, H, T, T]
        if self.head_combine == 'product-all':
            att = att.mean(dim=1, keepdim=True)  # [B, 1, T, T]: shared by every head
        elif self.head_combine == 'product-group':
            att = att.view(B, self.n_kv_heads, rep, T, T).mean(dim=2).repeat_interleave(rep, dim=1)  # [B, H, T, T]
        att = att + mask[:T, :T]
        att = F.softmax(att.float(), dim=-1).type_as(q)
        if self.training and self.attn_dropout > 0:
            att = F.dropout(att, self.attn_dropout)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)  # [B, T, H*hd]
        y = self.wo(y)
        if self.training and self.dropout > 0:
            y = F.dropout(y, self.dropout)
        return y


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg['dim'], cfg['hidden_dim'], bias=False)
        self.w2 = nn.Linear(cfg['hidden_dim'], cfg['dim'], bias=False)
        self.w3 = nn.Linear(cfg['dim'], cfg['hidden_dim'], bias=False)
        self.dropout = cfg.get('dropout', 0.0)

    def forward(self, x):
        y = self.w2(F.silu(self.w1(x)) * self.w3(x))
        if self.training and self.dropout > 0:
            y = F.dropout(y, self.dropout)
        return y


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = RMSNorm(cfg['dim'])
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg['dim'])
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin, mask):
        h = x + self.attention(self.attention_norm(x), cos, sin, mask)
        return h + self.feed_forward(self.ffn_norm(h))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg['vocab_size'], cfg['dim'])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg['n_layers'])])
        self.norm = RMSNorm(cfg['dim'])
        self.output = nn.Linear(cfg['dim'], cfg['vocab_size'], bias=False)
        self.output.weight = self.tok_embeddings.weight  # tied classifier (llama2.c: vocab_size > 0)
        cos, sin = rope_tables(cfg['dim'] // cfg['n_heads'], cfg['seq_len'])
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)
        mask = torch.full((cfg['seq_len'], cfg['seq_len']), float('-inf')).triu(1)  # [T, T] causal
        self.register_buffer('mask', mask, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith('wo.weight') or name.endswith('w2.weight'):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg['n_layers']))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, ids):
        """ids: [B, T] int64 -> logits [B, T, vocab]."""
        T = ids.shape[1]
        h = self.tok_embeddings(ids)  # [B, T, dim]
        if self.training and self.cfg.get('dropout', 0.0) > 0:
            h = F.dropout(h, self.cfg['dropout'])
        for layer in self.layers:
            h = layer(h, self.cos[:T], self.sin[:T], self.mask)
        return self.output(self.norm(h))

    def num_params(self):
        return sum(p.numel() for p in self.parameters())


# ----------------------------------------------------------------------------- llama2.c export


def write_llama2c(model, path):
    """llama2.c legacy format: 7 int32 header fields, then float32 weights (tied classifier)."""
    cfg = model.cfg
    L = cfg['n_layers']
    head_dim = cfg['dim'] // cfg['n_heads']
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<7i', cfg['dim'], cfg['hidden_dim'], L, cfg['n_heads'], cfg['n_kv_heads'], cfg['vocab_size'], cfg['seq_len']))

        def put(t):
            f.write(t.detach().float().cpu().contiguous().numpy().astype('<f4').tobytes())

        put(model.tok_embeddings.weight)  # [vocab, dim]
        for attr in ['attention_norm.weight', 'attention.wq.weight', 'attention.wk.weight', 'attention.wv.weight',
                     'attention.wo.weight', 'ffn_norm.weight', 'feed_forward.w1.weight', 'feed_forward.w2.weight',
                     'feed_forward.w3.weight']:
            for layer in model.layers:
                t = layer
                for part in attr.split('.'):
                    t = getattr(t, part)
                put(t)  # [L x ...] in PyTorch Linear layout [out, in]
        put(model.norm.weight)  # [dim]
        cos, sin = rope_tables(head_dim, cfg['seq_len'])
        put(cos)  # freq_cis_real [seq_len, head_dim/2]
        put(sin)  # freq_cis_imag [seq_len, head_dim/2]
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- data


def load_ids(path):
    with open(path, 'rb') as f:
        data = f.read()
    return torch.frombuffer(bytearray(data), dtype=torch.int16).to(torch.int64) & 0xFFFF  # [n] uint16 ids


def get_batch(data, bos, batch_size, seq_len, gen, device):
    """x = [BOS] + data[i : i+T-1], y = data[i : i+T]: [B, T] each."""
    ix = torch.randint(0, len(data) - seq_len, (batch_size,), generator=gen)
    y = torch.stack([data[i:i + seq_len] for i in ix.tolist()])  # [B, T]
    x = torch.cat([torch.full((batch_size, 1), bos, dtype=torch.int64), y[:, :-1]], dim=1)  # [B, T]
    y = y.masked_fill(y == bos, -100)  # never train to predict a document separator
    return x.to(device), y.to(device)


@torch.no_grad()
def estimate_loss(model, data, bos, cfg, device, n_batches):
    """Mean cross-entropy over fixed windows (same offsets every call), nats/token."""
    model.eval()
    gen = torch.Generator().manual_seed(1234)
    total, count = 0.0, 0
    for _ in range(n_batches):
        x, y = get_batch(data, bos, cfg['eval_batch_size'], cfg['seq_len'], gen, device)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.view(-1), ignore_index=-100, reduction='sum')
        total += loss.item()
        count += (y != -100).sum().item()
    model.train()
    return total / max(count, 1)


@torch.no_grad()
def score_doc_nll(model, ids, seq_len, device, batch=16):
    """Σ −log p over ids[1:] exactly as src/core/scoring.ts scoreIds does it: ids = [BOS] + tokens;
    the first window is ids[:M]; each later window is [BOS] + the previous M/2 tokens + up to
    M − 1 − M/2 new tokens, scoring only the new ones. Returns (nll, n_scored)."""
    model.eval()
    M = seq_len
    N = len(ids)
    windows = []  # (input ids, index in `ids` of the first scored target, end)
    if N <= M:
        windows.append((ids[:N], 1, N))
    else:
        ctx_keep = min(M // 2, M - 2)
        windows.append((ids[:M], 1, M))
        end = M
        while end < N:
            step = M - 1 - ctx_keep
            e = min(end + step, N)
            begin = max(1, end - ctx_keep)
            windows.append((torch.cat([ids[:1], ids[begin:e]]), end, e, begin))
            end = e
    total, count = 0.0, 0
    for b0 in range(0, len(windows), batch):
        group = windows[b0:b0 + batch]
        width = max(len(w[0]) for w in group)
        x = torch.zeros((len(group), width), dtype=torch.int64)  # [b, width], right-padded
        y = torch.full((len(group), width), -100, dtype=torch.int64)
        for r, w in enumerate(group):
            inp = w[0]
            x[r, :len(inp)] = inp
            # target at position p is inp[p+1]; score it when its index in `ids` is in [lo, hi)
            if len(w) == 3:
                lo, hi = w[1], w[2]
                idx = torch.arange(1, len(inp))  # ids index of inp[p+1] for p = 0..len-2
            else:
                lo, hi, begin = w[1], w[2], w[3]
                idx = begin + torch.arange(1, len(inp)) - 1
            keep = (idx >= lo) & (idx < hi)
            tgt = inp[1:].clone()
            tgt[~keep] = -100
            y[r, :len(inp) - 1] = tgt
        logits = model(x.to(device))
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.view(-1).to(device), ignore_index=-100, reduction='sum')
        total += loss.item()
        count += (y != -100).sum().item()
    model.train()
    return total, count


def score_split(model, ids, docs, seq_len, device):
    nll, n, chars = 0.0, 0, 0
    for d in docs:
        part = ids[d['offset']:d['offset'] + d['tokens']]
        s, c = score_doc_nll(model, part, seq_len, device)
        nll += s
        n += c
        chars += d['chars']
    return {'nll': nll, 'tokens': n, 'chars': chars, 'nats_per_token': nll / max(n, 1), 'nats_per_char': nll / max(chars, 1)}


# ----------------------------------------------------------------------------- training


def lr_at(step, t):
    """Warmup, then constant, then a linear decay to min_lr over the last decay_frac of the steps
    (warmup-stable-decay): a run can be lengthened or shortened before its decay starts without
    changing what it did so far. schedule "cosine" gives warmup + cosine decay instead."""
    lr, lo, warm, total = t['learning_rate'], t['min_lr'], t['warmup_steps'], t['max_steps']
    if step < warm:
        return lr * (step + 1) / warm
    if t.get('schedule', 'wsd') == 'cosine':
        ratio = min(1.0, (step - warm) / max(1, total - warm))
        return lo + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - lo)
    decay_start = total - int(total * t.get('decay_frac', 0.2))
    if step < decay_start:
        return lr
    return lr + (lo - lr) * min(1.0, (step - decay_start + 1) / max(1, total - decay_start))


def adopt_new_budget(config_path, t, step, log):
    """Re-reads train.max_steps from the config: a long run's budget can be changed while it runs,
    as long as both the old and the new schedule are still in their constant phase (then the run is
    the same as a fresh run with the new value)."""
    try:
        with open(config_path) as f:
            new = json.load(f)['train']['max_steps']
    except (OSError, ValueError, KeyError):
        return
    if new == t['max_steps'] or t.get('schedule', 'wsd') != 'wsd':
        return
    frac = t.get('decay_frac', 0.2)
    start = lambda total: total - int(total * frac)
    if step < start(t['max_steps']) and step < start(new):
        log(f'config changed: max_steps {t["max_steps"]} -> {new} (decay from step {start(new)})')
        t['max_steps'] = new
    else:
        log(f'config asks for max_steps {new}, but the decay has begun: keeping {t["max_steps"]}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', required=True, help='JSON with "model" and "train" sections')
    ap.add_argument('--data', required=True, help='folder prepare.ts wrote (train.bin, val.bin, slice.bin, meta.json)')
    ap.add_argument('--out', required=True, help='run folder: ckpt.pt, model.bin, run.json, train.log')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--max-steps', type=int, help='override train.max_steps (for tests)')
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (BLAS threads: OPENBLAS_NUM_THREADS)')
    ap.add_argument('--no-final-eval', action='store_true', help='skip the full validation pass at the end')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        config = json.load(f)
    with open(os.path.join(args.data, 'meta.json')) as f:
        meta = json.load(f)
    mcfg = dict(config['model'])
    mcfg['vocab_size'] = meta['vocab_size']
    t = dict(config['train'])
    if args.max_steps is not None:
        t['max_steps'] = args.max_steps
        t['warmup_steps'] = min(t['warmup_steps'], max(1, args.max_steps // 2))
        t['eval_interval'] = min(t['eval_interval'], args.max_steps)
    t.setdefault('eval_batch_size', t['batch_size'])
    t.setdefault('eval_batches', 8)
    mcfg['eval_batch_size'] = t['eval_batch_size']
    os.makedirs(args.out, exist_ok=True)
    log_file = open(os.path.join(args.out, 'train.log'), 'a')

    def log(msg):
        line = f'{time.strftime("%Y-%m-%d %H:%M:%S")} {msg}'
        print(line, flush=True)
        log_file.write(line + '\n')
        log_file.flush()

    device = args.device
    bos = meta['bos_id']
    train_ids = load_ids(os.path.join(args.data, 'train.bin'))
    val_ids = load_ids(os.path.join(args.data, 'val.bin'))
    slice_ids = load_ids(os.path.join(args.data, 'slice.bin'))

    torch.manual_seed(t['seed'])
    model = Llama(mcfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': t['weight_decay']}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=t['learning_rate'], betas=(t.get('beta1', 0.9), t.get('beta2', 0.95)))
    gen = torch.Generator().manual_seed(t['seed'])
    step, elapsed, tokens_seen, history = 0, 0.0, 0, []
    ckpt_path = os.path.join(args.out, 'ckpt.pt')
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        if ck['model_config'] != mcfg:
            sys.exit(f'{ckpt_path} was made with another model config; delete it to start over')
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['optimizer'])
        gen.set_state(ck['generator'])
        torch.set_rng_state(ck['torch_rng'])
        step, elapsed, tokens_seen, history = ck['step'], ck['elapsed'], ck['tokens'], ck['history']
        log(f'resumed from {ckpt_path} at step {step} ({elapsed:.0f} s of training so far)')
    else:
        log(f'new run: {model.num_params()} parameters, model {json.dumps(mcfg)}, train {json.dumps(t)}, '
            f'{len(train_ids)} train tokens, {len(val_ids)} val tokens, device {device}, torch {torch.__version__}')

    def save():
        torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'generator': gen.get_state(),
                    'torch_rng': torch.get_rng_state(), 'step': step, 'elapsed': elapsed, 'tokens': tokens_seen,
                    'history': history, 'model_config': mcfg, 'train_config': t}, ckpt_path + '.tmp')
        os.replace(ckpt_path + '.tmp', ckpt_path)
        write_llama2c(model, os.path.join(args.out, 'model.bin'))

    B, T, accum = t['batch_size'], mcfg['seq_len'], t.get('grad_accum', 1)
    model.train()
    t_last, tok_last = time.time(), 0
    while step < t['max_steps']:
        t0 = time.time()
        lr = lr_at(step, t)
        for g in opt.param_groups:
            g['lr'] = lr
        loss_sum = 0.0
        for _ in range(accum):
            x, y = get_batch(train_ids, bos, B, T, gen, device)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.view(-1), ignore_index=-100)
            (loss / accum).backward()
            loss_sum += loss.item() / accum
        if t.get('grad_clip', 0) > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t['grad_clip'])
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += B * T * accum
        elapsed += time.time() - t0
        tok_last += B * T * accum
        if step % t.get('log_interval', 50) == 0:
            now = time.time()
            log(f'step {step}/{t["max_steps"]} loss {loss_sum:.4f} lr {lr:.2e} {tok_last / (now - t_last):.0f} tok/s')
            t_last, tok_last = now, 0
        if step % t['eval_interval'] == 0 or step == t['max_steps']:
            te = time.time()
            tr = estimate_loss(model, train_ids, bos, mcfg, device, t['eval_batches'])
            va = estimate_loss(model, val_ids, bos, mcfg, device, t['eval_batches'])
            history.append({'step': step, 'train_loss': tr, 'val_loss': va, 'elapsed': elapsed})
            if args.max_steps is None:
                adopt_new_budget(args.config, t, step, log)
            save()
            log(f'eval step {step}: train {tr:.4f} val {va:.4f} nats/token (windows of {T}, estimate) '
                f'[{elapsed / 60:.1f} min trained; eval+save {time.time() - te:.0f} s]')
            t_last = time.time()

    write_llama2c(model, os.path.join(args.out, 'model.bin'))
    run = {
        'parameters': model.num_params(),
        'model': {k: v for k, v in mcfg.items() if k != 'eval_batch_size'},
        'train': t,
        'steps': step,
        'tokens_seen': tokens_seen,
        'wall_seconds': round(elapsed, 1),
        'device': device,
        'torch': torch.__version__,
        'data': {k: meta[k] for k in ['tokenizer', 'train_chars', 'val_chars', 'train_tokens', 'val_tokens', 'train_fraction', 'sources']},
        'history': history,
    }
    if not args.no_final_eval:
        te = time.time()
        run['val'] = score_split(model, val_ids, meta['val_docs'], T, device)
        sl = score_split(model, slice_ids, [{'offset': 0, 'tokens': len(slice_ids), 'chars': meta['slice']['chars']}], T, device)
        run['slice'] = {**meta['slice'], **sl}
        log(f'final: val {run["val"]["nats_per_token"]:.4f} nats/token, {run["val"]["nats_per_char"]:.4f} nats/char '
            f'over the whole validation split (sliding windows as `lens score`); slice {sl["nats_per_char"]:.4f} nats/char '
            f'[{time.time() - te:.0f} s]')
    with open(os.path.join(args.out, 'run.json'), 'w') as f:
        json.dump(run, f, indent=1)
        f.write('\n')
    log(f'done: {step} steps, {tokens_seen} tokens, {elapsed / 60:.1f} min; wrote {args.out}/model.bin and run.json')


if __name__ == '__main__':
    main()
