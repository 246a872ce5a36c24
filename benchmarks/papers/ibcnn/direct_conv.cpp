// Direct (im2col-free) convolution + tanh, and 2x2 max-pooling, for the few-channel, stride-1 layers of the
// ibcnn networks: benchmarks/papers/ibcnn/direct.py builds it (torch.utils.cpp_extension) and explains when
// and why it is used. Layout NCHW float32; every image is copied into a zero-padded flat buffer whose rows
// keep the padded width, so a kernel tap (i, j) is one constant offset i*Wp + j and the inner loops run
// over long contiguous spans (the 2 - 10 columns past each row's end are computed and dropped). GCC vector
// extensions (16 floats) keep it portable; -march=native maps them to AVX-512 or AVX2.
//   forward:  y = act(conv(x, w, b, pad)), act = tanh or none, tanh fused into the store.
//   backward: from dL/dy, the pre-activation gradient g = dL/dy * (1 - y^2) is formed per image, then dw
//             (register-blocked: up to 4 output channels x 6-12 (input channel, tap) pairs of 16-lane
//             partial sums), db and, when the input needs it, dx = valid correlation of g padded by
//             R-1-pad with the flipped, transposed kernel (the forward kernel again).
// Threads: images are split over PyTorch's thread count. Determinism: the weight gradient's partial sums
// are kept per fixed image chunk (CHUNKS) and added in chunk order, so they do not depend on the threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstring>
#include <limits>
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t i16 __attribute__((vector_size(64)));
static inline v16 ld(const float* p) { v16 v; std::memcpy(&v, p, 64); return v; }
static inline void st(float* p, v16 v) { std::memcpy(p, &v, 64); }
static inline v16 bc(float a) { return v16{} + a; }
static inline float hsum(v16 v) { float s = 0; for (int i = 0; i < 16; ++i) s += v[i]; return s; }
static inline int round_up(int a, int b) { return (a + b - 1) / b * b; }

// exp(z) for z in [0, 20]: z = k ln2 + r, |r| <= ln2/2, Taylor polynomial of degree 7 (error < 6e-9 relative)
static inline v16 exp_pos(v16 z) {
  const v16 kf = __builtin_convertvector(__builtin_convertvector(z * 1.44269504088896341f + 0.5f, i16), v16);
  const v16 r = (z - kf * 0.693359375f) + kf * 2.12194440e-4f;
  v16 p = bc(1.f / 5040);
  p = p * r + 1.f / 720; p = p * r + 1.f / 120; p = p * r + 1.f / 24; p = p * r + 1.f / 6; p = p * r + 0.5f;
  p = p * r + 1.f; p = p * r + 1.f;
  const i16 e = (__builtin_convertvector(kf, i16) + 127) << 23;
  v16 scale; std::memcpy(&scale, &e, 64);
  return p * scale;
}

// tanh: x + x^3 P(x^2) below 0.625 (P fitted to tanh, relative error 7e-10), 1 - 2 / (exp(2|x|) + 1) above
static inline v16 tanh16(v16 x) {
  const v16 a = x < 0 ? -x : x;
  const v16 z = x * x;
  v16 p = bc(0.0023131025555316945f);
  p = p * z - 0.008364741558464006f; p = p * z + 0.021776490672849223f; p = p * z - 0.05396042317359088f;
  p = p * z + 0.13333310311168833f; p = p * z - 0.33333333257896913f;
  const v16 small = x + x * z * p;
  const v16 ac = a < 10.f ? a : bc(10.f);  // tanh rounds to 1 in float from 9.01 on
  const v16 big = 1.f - 2.f / (exp_pos(ac + ac) + 1.f);
  return a < 0.625f ? small : (x < 0 ? -big : big);
}

// f(begin, end) on contiguous parts of [0, n), one per thread of PyTorch's intra-op pool size (std::thread:
// at::parallel_for would need this file built with the OpenMP runtime PyTorch bundles)
template <typename F>
static void parallel_parts(int64_t n, const F& f) {
  const int64_t T = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n));
  if (T == 1) { f(0, n); return; }
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < T; ++t) pool.emplace_back([&, t] { f(t * n / T, (t + 1) * n / T); });
  f(0, n / T);
  for (auto& th : pool) th.join();
}

constexpr int PV = 4, PB = 16 * PV;  // output positions per register block of the forward kernel
constexpr int CHUNKS = 16;           // fixed image chunks: the weight gradient's summation order does not depend on threads

// image [C][H][W] -> zero-padded flat rows of width W + 2 pad, channel stride LX
static void pad_image(const float* x, int C, int H, int W, int pad, float* buf, int LX) {
  const int Wp = W + 2 * pad;
  std::memset(buf, 0, sizeof(float) * C * LX);
  for (int c = 0; c < C; ++c)
    for (int h = 0; h < H; ++h) std::memcpy(buf + c * LX + (h + pad) * Wp + pad, x + (c * H + h) * W, sizeof(float) * W);
}

template <int KB>
static void fwd_kblock(const float* xb, int LX, const float* w, const float* b, int C, int k0, int R, int S, int Wp,
                       int LP, bool act, float* ob) {
  const int RS = R * S;
  for (int p0 = 0; p0 < LP; p0 += PB) {
    v16 acc[KB][PV];
    for (int kk = 0; kk < KB; ++kk) for (int v = 0; v < PV; ++v) acc[kk][v] = bc(b ? b[k0 + kk] : 0.f);
    for (int c = 0; c < C; ++c) {
      const float* xc = xb + c * LX + p0;
      const float* wc = w + (k0 * C + c) * RS;
      for (int i = 0; i < R; ++i)
        for (int j = 0; j < S; ++j) {
          const int off = i * Wp + j, t = i * S + j;
          v16 xv[PV];
          for (int v = 0; v < PV; ++v) xv[v] = ld(xc + off + 16 * v);
          for (int kk = 0; kk < KB; ++kk) {
            const v16 wv = bc(wc[kk * C * RS + t]);
            for (int v = 0; v < PV; ++v) acc[kk][v] += wv * xv[v];
          }
        }
    }
    for (int kk = 0; kk < KB; ++kk)
      for (int v = 0; v < PV; ++v) st(ob + (k0 + kk) * LP + p0 + 16 * v, act ? tanh16(acc[kk][v]) : acc[kk][v]);
  }
}

// valid correlation of one padded flat image xb [C][LX] (row width Wp) -> ob [K][LP] (row width Wp)
static void correlate(const float* xb, int LX, const float* w, const float* b, int C, int K, int R, int S, int Wp,
                      int LP, bool act, float* ob) {
  int k0 = 0;
  for (; k0 + 6 <= K; k0 += 6) fwd_kblock<6>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob);
  switch (K - k0) {
    case 1: fwd_kblock<1>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob); break;
    case 2: fwd_kblock<2>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob); break;
    case 3: fwd_kblock<3>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob); break;
    case 4: fwd_kblock<4>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob); break;
    case 5: fwd_kblock<5>(xb, LX, w, b, C, k0, R, S, Wp, LP, act, ob); break;
    default: break;
  }
}

static void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.dim() == 4,
              "direct_conv: ", name, " must be a 4-d float32 CPU tensor");
}

torch::Tensor forward(torch::Tensor x, torch::Tensor w, torch::Tensor b, int64_t pad, bool act) {
  check(x, "input"); check(w, "weight");
  x = x.contiguous(); w = w.contiguous(); b = b.contiguous();
  const int N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0), R = w.size(2), S = w.size(3);
  TORCH_CHECK(w.size(1) == C, "direct_conv: weight has ", w.size(1), " input channels, input has ", C);
  TORCH_CHECK(R == S && pad >= 0 && pad < R, "direct_conv: square kernels with 0 <= pad < kernel size only, got ",
              R, "x", S, " pad ", pad);
  const int Wp = W + 2 * pad, OH = H + 2 * pad - R + 1, OW = Wp - S + 1;
  TORCH_CHECK(OH >= 1 && OW >= 1, "direct_conv: kernel larger than the padded input");
  const int LP = round_up(OH * Wp, PB), LX = LP + (R - 1) * Wp + S;
  auto y = torch::empty({N, K, OH, OW}, x.options());
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *bp = b.numel() ? b.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  parallel_parts(N, [&](int64_t n0, int64_t n1) {
    std::vector<float> xb(C * LX), ob(K * LP);
    for (int64_t n = n0; n < n1; ++n) {
      pad_image(xp + n * C * H * W, C, H, W, pad, xb.data(), LX);
      correlate(xb.data(), LX, wp, bp, C, K, R, S, Wp, LP, act, ob.data());
      float* yn = yp + n * K * OH * OW;
      for (int k = 0; k < K; ++k)
        for (int h = 0; h < OH; ++h) std::memcpy(yn + (k * OH + h) * OW, ob.data() + k * LP + h * Wp, sizeof(float) * OW);
    }
  });
  return y;
}

// dw[k][j] += sum_p g[k][p] * xb[p + offs[j]] for KB output channels and TB (input channel, tap) pairs j:
// KB*TB 16-lane partial sums stay in registers over the whole image
template <int KB, int TB>
static void wgrad_block(const float* gb, const float* xb, int LP, int k0, const int* offs, float* accmem) {
  v16 acc[KB][TB];
  for (int kk = 0; kk < KB; ++kk) for (int t = 0; t < TB; ++t) acc[kk][t] = ld(accmem + (kk * TB + t) * 16);
  for (int p = 0; p < LP; p += 16) {
    v16 gv[KB];
    for (int kk = 0; kk < KB; ++kk) gv[kk] = ld(gb + (k0 + kk) * LP + p);
    for (int t = 0; t < TB; ++t) {
      v16 xv = ld(xb + p + offs[t]);
#if defined(__x86_64__) && defined(__AVX512F__)
      asm("" : "+v"(xv));  // one register load for the KB products: GCC would fold KB unaligned loads into them
#endif
      for (int kk = 0; kk < KB; ++kk) acc[kk][t] += gv[kk] * xv;
    }
  }
  for (int kk = 0; kk < KB; ++kk) for (int t = 0; t < TB; ++t) st(accmem + (kk * TB + t) * 16, acc[kk][t]);
}

// the register block of the weight gradient for K output channels: KB channels (dividing K where it can)
// x TB (input channel, tap) pairs, at most 28 of the 32 vector registers
static void wgrad_shape(int K, int& KB, int& TB) {
  KB = K <= 4 ? K : (K % 4 == 0 ? 4 : (K % 3 == 0 ? 3 : 4));
  TB = KB == 4 ? 6 : KB == 3 ? 8 : KB == 2 ? 10 : 12;
}

static void wgrad_dispatch(int KB, int TB, const float* gb, const float* xb, int LP, int k0, const int* offs,
                           float* accmem) {
  if (KB == 4 && TB == 6) wgrad_block<4, 6>(gb, xb, LP, k0, offs, accmem);
  else if (KB == 3 && TB == 8) wgrad_block<3, 8>(gb, xb, LP, k0, offs, accmem);
  else if (KB == 2 && TB == 10) wgrad_block<2, 10>(gb, xb, LP, k0, offs, accmem);
  else wgrad_block<1, 12>(gb, xb, LP, k0, offs, accmem);
}

// Gradients of y = act(conv(x, w, b, pad)) given gy = dL/dy (act: tanh, whose derivative is 1 - y^2, or none).
// Returns {dx (undefined unless need_dx), dw, db}.
std::vector<torch::Tensor> backward(torch::Tensor x, torch::Tensor w, torch::Tensor y, torch::Tensor gy, int64_t pad,
                                    bool act, bool need_dx) {
  check(x, "input"); check(w, "weight"); check(gy, "output gradient");
  x = x.contiguous(); w = w.contiguous(); gy = gy.contiguous();
  if (act) y = y.contiguous();
  const int N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0), R = w.size(2), S = w.size(3);
  const int OH = gy.size(2), OW = gy.size(3);
  TORCH_CHECK(R == S && pad >= 0 && pad < R && gy.size(0) == N && gy.size(1) == K && OH == H + 2 * pad - R + 1 &&
              OW == W + 2 * pad - S + 1, "direct_conv: output gradient shape does not match the convolution");
  TORCH_CHECK(!act || y.sizes() == gy.sizes(), "direct_conv: saved output and its gradient differ in shape");
  const int Wp = W + 2 * pad, LP = round_up(OH * Wp, 16), LX = LP + (R - 1) * Wp + S;
  // input gradient: valid correlation of gpre padded by q = R-1-pad with the flipped, transposed kernel
  const int q = R - 1 - pad, Wq = OW + 2 * q, LPd = round_up(H * Wq, PB), LG = LPd + (R - 1) * Wq + S;
  // the weight gradient's pairs j = (input channel c, tap t): the tap's input is the padded image at offset
  // c*LX + i*Wp + jj, so one pass over the image serves any pairs; padded to whole blocks with offset 0
  const int RS = R * S;
  int KB, TB;
  wgrad_shape(K, KB, TB);
  const int NK = (K + KB - 1) / KB, NJ = (C * RS + TB - 1) / TB;
  std::vector<int> offs(NJ * TB, 0);
  for (int j = 0; j < C * RS; ++j) offs[j] = (j / RS) * LX + ((j % RS) / S) * Wp + (j % RS) % S;
  const size_t nblock = (size_t)KB * TB * 16, nacc = (size_t)NK * NJ * nblock + K * 16;  // weight, bias sums
  std::vector<float> acc((size_t)CHUNKS * nacc, 0.f);
  // the input gradient's kernel: flipped and transposed (only when the input needs a gradient)
  auto wt = need_dx ? w.flip({2, 3}).transpose(0, 1).contiguous() : w;
  torch::Tensor dx = need_dx ? torch::empty({N, C, H, W}, x.options()) : torch::Tensor();
  const float *xp = x.data_ptr<float>(), *yp = act ? y.data_ptr<float>() : nullptr, *gp = gy.data_ptr<float>();
  const float* wtp = wt.data_ptr<float>();
  float* dxp = need_dx ? dx.data_ptr<float>() : nullptr;
  parallel_parts(CHUNKS, [&](int64_t c0, int64_t c1) {
    std::vector<float> xb(C * LX), gb((size_t)NK * KB * LP, 0.f), gpad(need_dx ? K * LG : 0, 0.f),
        ob(need_dx ? C * LPd : 0);
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      float* a = acc.data() + chunk * nacc;
      float* abias = a + nacc - K * 16;
      for (int64_t n = chunk * N / CHUNKS; n < (chunk + 1) * N / CHUNKS; ++n) {
        pad_image(xp + n * C * H * W, C, H, W, pad, xb.data(), LX);
        const float* gn = gp + n * K * OH * OW;
        const float* yn = act ? yp + n * K * OH * OW : nullptr;
        for (int k = 0; k < K; ++k)
          for (int h = 0; h < OH; ++h) {
            const float* g = gn + (k * OH + h) * OW;
            float* dst = gb.data() + k * LP + h * Wp;  // columns >= OW stay zero
            if (act) {
              const float* yy = yn + (k * OH + h) * OW;
              for (int i = 0; i < OW; ++i) dst[i] = g[i] * (1.f - yy[i] * yy[i]);
            } else {
              std::memcpy(dst, g, sizeof(float) * OW);
            }
            if (need_dx) std::memcpy(gpad.data() + k * LG + (h + q) * Wq + q, dst, sizeof(float) * OW);
          }
        for (int k = 0; k < K; ++k) {
          v16 s = ld(abias + k * 16);
          for (int p = 0; p < LP; p += 16) s += ld(gb.data() + k * LP + p);
          st(abias + k * 16, s);
        }
        for (int kb = 0; kb < NK; ++kb)
          for (int jb = 0; jb < NJ; ++jb)
            wgrad_dispatch(KB, TB, gb.data(), xb.data(), LP, kb * KB, offs.data() + jb * TB,
                           a + (size_t)(kb * NJ + jb) * nblock);
        if (need_dx) {
          correlate(gpad.data(), LG, wtp, nullptr, K, C, R, S, Wq, LPd, false, ob.data());
          float* dn = dxp + n * C * H * W;
          for (int c = 0; c < C; ++c)
            for (int h = 0; h < H; ++h) std::memcpy(dn + (c * H + h) * W, ob.data() + c * LPd + h * Wq, sizeof(float) * W);
        }
      }
    }
  });
  auto dw = torch::empty({K, C, R, S}, x.options());
  auto db = torch::empty({K}, x.options());
  float *dwp = dw.data_ptr<float>(), *dbp = db.data_ptr<float>();
  for (size_t i = 1; i < CHUNKS; ++i)  // chunks summed in a fixed order
    for (size_t j = 0; j < nacc; ++j) acc[j] += acc[i * nacc + j];
  for (int kb = 0; kb < NK; ++kb)
    for (int jb = 0; jb < NJ; ++jb)
      for (int kk = 0; kk < KB; ++kk)
        for (int t = 0; t < TB; ++t) {
          const int k = kb * KB + kk, j = jb * TB + t;  // dw[k][c][tap] with j = c * RS + tap
          if (k < K && j < C * RS) dwp[k * C * RS + j] = hsum(ld(acc.data() + (kb * NJ + jb) * nblock + (kk * TB + t) * 16));
        }
  for (int k = 0; k < K; ++k) dbp[k] = hsum(ld(acc.data() + nacc - K * 16 + k * 16));
  return {dx, dw, db};
}

// 2x2 max-pooling with stride 2 (the pooling networks' nn.MaxPool2d(2, 2)): PyTorch's NCHW CPU pooling
// with indices costs about 6 ns per input element here, a sixth of a pool_on step. idx holds the window
// position of each maximum (0..3, row-major; the first of equal values, the last NaN, as PyTorch picks).
std::vector<torch::Tensor> maxpool2_forward(torch::Tensor x, bool ceil_mode) {
  check(x, "input");
  x = x.contiguous();
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = ceil_mode ? (H + 1) / 2 : H / 2, OW = ceil_mode ? (W + 1) / 2 : W / 2;
  TORCH_CHECK(OH >= 1 && OW >= 1, "direct_conv: input smaller than the 2x2 pooling window");
  auto y = torch::empty({x.size(0), x.size(1), OH, OW}, x.options());
  auto idx = torch::empty({x.size(0), x.size(1), OH, OW}, x.options().dtype(torch::kUInt8));
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  uint8_t* ip = idx.data_ptr<uint8_t>();
  // a window's maximum by PyTorch's rule, branch-free (random data would mispredict every comparison)
  auto take = [](float v, int at, float& best, int& pos) {
    const bool t = (v > best) | (v != v);
    best = t ? v : best;
    pos = t ? at : pos;
  };
  const int64_t full_h = H / 2, full_w = W / 2;  // windows inside the input
  parallel_parts(planes, [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl)
      for (int64_t oh = 0; oh < OH; ++oh) {
        float* yr = yp + (pl * OH + oh) * OW;
        uint8_t* ir = ip + (pl * OH + oh) * OW;
        const float* r0 = xp + (pl * H + 2 * oh) * W;
        const float* r1 = r0 + W;
        for (int64_t ow = 0; ow < OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int pos = 0;  // PyTorch's rule: the first position unless a later value is larger or NaN
          if (oh < full_h && ow < full_w) {
            take(r0[2 * ow], 0, best, pos); take(r0[2 * ow + 1], 1, best, pos);
            take(r1[2 * ow], 2, best, pos); take(r1[2 * ow + 1], 3, best, pos);
          } else {  // a ceil-mode window past the edge
            for (int dy = 0; dy < 2; ++dy)
              for (int dx = 0; dx < 2; ++dx)
                if (2 * oh + dy < H && 2 * ow + dx < W) take((dy ? r1 : r0)[2 * ow + dx], dy * 2 + dx, best, pos);
          }
          yr[ow] = best;
          ir[ow] = (uint8_t)pos;
        }
      }
  });
  return {y, idx};
}

torch::Tensor maxpool2_backward(torch::Tensor gy, torch::Tensor idx, int64_t H, int64_t W) {
  check(gy, "output gradient");
  gy = gy.contiguous(); idx = idx.contiguous();
  const int64_t planes = gy.size(0) * gy.size(1), OH = gy.size(2), OW = gy.size(3);
  auto dx = torch::zeros({gy.size(0), gy.size(1), H, W}, gy.options());
  const float* gp = gy.data_ptr<float>();
  const uint8_t* ip = idx.data_ptr<uint8_t>();
  float* dp = dx.data_ptr<float>();
  parallel_parts(planes, [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int pos = ip[(pl * OH + oh) * OW + ow];
          dp[(pl * H + 2 * oh + pos / 2) * W + 2 * ow + pos % 2] += gp[(pl * OH + oh) * OW + ow];
        }
  });
  return dx;
}

torch::Tensor tanh_(torch::Tensor x) {  // the activation alone (tests compare it with torch.tanh)
  x = x.contiguous();
  auto y = torch::empty_like(x);
  const int64_t n = x.numel(), nv = n / 16 * 16;
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t i = 0; i < nv; i += 16) st(yp + i, tanh16(ld(xp + i)));
  if (nv < n) {
    float tmp[16] = {0};
    std::memcpy(tmp, xp + nv, sizeof(float) * (n - nv));
    const v16 t = tanh16(ld(tmp));
    for (int64_t i = nv; i < n; ++i) yp[i] = t[i - nv];
  }
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward);
  m.def("backward", &backward);
  m.def("tanh", &tanh_);
  m.def("maxpool2_forward", &maxpool2_forward);
  m.def("maxpool2_backward", &maxpool2_backward);
}
