#!/usr/bin/env python3
"""rdarts against a PyTorch implementation of the same search step, side by side on one machine.

Times, with the same shapes, warm-up and repetitions:
  - one DARTS search step (α step then weight step), first and second order, spaces S2 and S5,
    in PyTorch eager (this file's own implementation of the step, on darts_model.Network) and
    in rdarts (`rdarts bench --json`);
  - λmax: the reference's way (the full α Hessian by double backprop, then its eigenvalues) in
    PyTorch against rdarts' Lanczos on finite-difference products;
  - peak host memory of each process;
and prints rdarts / PyTorch ratios (below 1: rdarts is faster or smaller).

Usage: python3 tests/torch_ref/side_by_side.py --rdarts target/release/rdarts [--backend cpu]
       [--device cpu|cuda] [--batch 64 --channels 16 --layers 8 --reps 5] [--spaces s2 --orders first]
Needs torch. Results and the exact commands go to BENCHMARKS.md.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from darts_model import PRIMITIVES, S2, Network  # noqa: E402


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


class Searcher:
    """The DARTS step (docs/ALGORITHM.md §5): Adam on α (lr 3e-4, betas (0.5, 0.999), wd 1e-3), SGD on the
    weights (lr 0.025, momentum 0.9, wd 3e-4, global-norm clip 5), second order by the unrolled
    step with the finite-difference Hessian-vector product (ε = 0.01 / ‖v‖)."""

    def __init__(self, net, edges, k, device):
        self.net = net
        self.alphas = [(1e-3 * torch.randn(edges, k, device=device)).requires_grad_(True) for _ in range(2)]
        self.w_opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.a_opt = torch.optim.Adam(self.alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def loss(self, x, y):
        return F.cross_entropy(self.net(x, self.alphas[0], self.alphas[1]), y)

    def step(self, train, val, second_order):
        self.a_opt.zero_grad()
        if second_order:
            self.unrolled_alpha_grad(train, val)
        else:
            self.loss(*val).backward()
        self.a_opt.step()
        self.w_opt.zero_grad()
        loss = self.loss(*train)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.w_opt.step()
        return loss

    def unrolled_alpha_grad(self, train, val):
        params = list(self.net.parameters())
        lr, mom, wd = 0.025, 0.9, 3e-4
        grads = torch.autograd.grad(self.loss(*train), params)
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, g in zip(params, grads):
                buf = self.w_opt.state.get(p, {}).get('momentum_buffer')
                step = g + wd * p + (mom * buf if buf is not None else 0)
                p.sub_(lr * step)
        val_loss = self.loss(*val)
        ga = torch.autograd.grad(val_loss, self.alphas + params)
        dalpha, v = ga[:2], ga[2:]
        eps = 0.01 / torch.cat([t.flatten() for t in v]).norm()
        with torch.no_grad():
            for p, s, d in zip(params, saved, v):
                p.copy_(s + eps * d)
        gp = torch.autograd.grad(self.loss(*train), self.alphas)
        with torch.no_grad():
            for p, s, d in zip(params, saved, v):
                p.copy_(s - eps * d)
        gn = torch.autograd.grad(self.loss(*train), self.alphas)
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
        for a, da, p_, n_ in zip(self.alphas, dalpha, gp, gn):
            a.grad = da - lr * (p_ - n_) / (2 * eps)

    def full_hessian_eigmax(self, val):
        """The reference's λmax: the dense α Hessian by double backprop, then eigenvalues."""
        flat = torch.cat([a.flatten() for a in self.alphas]).detach().requires_grad_(True)
        n = flat.numel() // 2
        shape = self.alphas[0].shape
        loss = F.cross_entropy(self.net(val[0], flat[:n].view(shape), flat[n:].view(shape)), val[1])
        (g,) = torch.autograd.grad(loss, flat, create_graph=True)
        rows = [torch.autograd.grad(g[i], flat, retain_graph=True)[0] for i in range(flat.numel())]
        h = torch.stack(rows)
        h = 0.5 * (h + h.T) + 1e-3 * torch.eye(h.shape[0], device=h.device)
        return torch.linalg.eigvalsh(h.double()).max().item()


def timed(fn, warmup, reps, device):
    times = []
    for i in range(warmup + reps):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rdarts', required=True, help='the rdarts binary (a release build)')
    ap.add_argument('--backend', default='cpu', help='rdarts backend: cpu, wgpu or auto')
    ap.add_argument('--device', default='cpu', help='PyTorch device: cpu or cuda')
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--channels', type=int, default=16)
    ap.add_argument('--layers', type=int, default=8)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--spaces', default='s2,s5')
    ap.add_argument('--orders', default='first,second', help='α-gradient orders to time (first, second)')
    ap.add_argument('--lanczos-steps', type=int, default=20, help='Lanczos products at most')
    ap.add_argument('--lanczos-tol', type=float, default=None,
                    help="Lanczos' relative residual tolerance (default: rdarts' default; 0 takes every product)")
    ap.add_argument('--hessian-spaces', default='s2,s5',
                    help="spaces whose λmax is compared (the reference's dense Hessian of S5 takes 224 double-backward passes)")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True

    cmd = [args.rdarts, 'bench', '--json', '--backend', args.backend, '--batch-size', str(args.batch),
           '--init-channels', str(args.channels), '--layers', str(args.layers), '--image-size', str(args.size),
           '--warmup', str(args.warmup), '--reps', str(args.reps), '--spaces', args.spaces,
           '--lanczos-steps', str(args.lanczos_steps), '--orders', args.orders]
    if args.lanczos_tol is not None:
        cmd += ['--lanczos-tol', str(args.lanczos_tol)]
    print('rdarts:', ' '.join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    ours = {}
    for line in out.splitlines():
        m = json.loads(line)
        ours[m['case']] = m
    backend = next((m['backend'] for m in ours.values() if 'backend' in m), '?')

    print(f'PyTorch {torch.__version__} on {device} ({torch.get_num_threads()} threads); rdarts on {backend}', flush=True)
    rows = []
    for space in args.spaces.split(','):
        prims = PRIMITIVES if space == 's5' else S2
        if space not in ('s2', 's5'):
            raise SystemExit(f'this script implements s2 and s5, not {space}')
        for order in args.orders.split(','):
            net = Network(args.channels, 10, args.layers, 4, 3, prims).to(device).train()
            edges = 14
            s = Searcher(net, edges, len(prims), device)
            x = torch.randn(2 * args.batch, 3, args.size, args.size, device=device)
            y = torch.randint(0, 10, (2 * args.batch,), device=device)
            train, val = (x[:args.batch], y[:args.batch]), (x[args.batch:], y[args.batch:])
            med, lo, hi = timed(lambda: s.step(train, val, order == 'second'), args.warmup, args.reps, device)
            r = ours[f'step {space} {order}-order']
            rows.append((f'step {space} {order} order', r['median_s'], med))
            if order == 'first' and space in args.hessian_spaces.split(','):
                reps = min(args.reps, 3)
                tmed, _, _ = timed(lambda: s.full_hessian_eigmax(val), min(args.warmup, 1), reps, device)
                case = f'lambda_max {space} lanczos {args.lanczos_steps}'
                r, found = ours[case], ours.get(f'{case} result', {})
                used = f", {found['products']} products" if 'products' in found else ''
                rows.append((f'λmax {space} (Lanczos{used} vs full double-backprop Hessian)', r['median_s'], tmed))
                if found:
                    print(f"rdarts λmax {space}: {found['lambda_max']:.6g} after {found['products']} products "
                          f"(residual bound {found['residual']:.2e}, tolerance {found['tol']})", flush=True)
    peak_torch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak_ours = ours.get('peak_host_memory_mib', {}).get('value')
    print(f"\nshape: batch {args.batch}, C = {args.channels}, {args.layers} cells, {args.size}×{args.size}×3; "
          f"{args.warmup} warm-up + {args.reps} timed repetitions (λmax: up to 3); medians")
    print(f"{'case':<52} {'rdarts s':>10} {'PyTorch s':>10} {'ratio':>8}")
    for name, a, b in rows:
        print(f'{name:<52} {a:>10.4f} {b:>10.4f} {a / b:>8.2f}')
    if peak_ours is not None:
        print(f"{'peak host memory, MiB (VmHWM / ru_maxrss)':<52} {peak_ours:>10.0f} {peak_torch:>10.0f} {peak_ours / peak_torch:>8.2f}")
    if device.type == 'cuda':
        print(f'PyTorch peak device memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB; rdarts device memory: not measured')


if __name__ == '__main__':
    main()
