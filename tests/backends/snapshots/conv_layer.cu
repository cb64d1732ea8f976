
// k0: pad 'conv2d/pad_N'
extern "C" __global__ void k0(const float* in_x, float* t0, int* gc_status) {
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < 200LL; p += (long long)gridDim.x * blockDim.x) {
    const long long i3 = p % 10LL;
    const long long i2 = (p / 10LL) % 10LL;
    const long long i0 = ((p / 10LL) / 10LL) % 2LL;
    const float v_a0 = ((i0 >= 0LL && i0 < 2LL && 0LL >= 0LL && 0LL < 1LL && i2 >= 1LL && i2 < 9LL && i3 >= 1LL && i3 < 9LL) ? in_x[((((i0 * 64LL) + -9LL) + (i2 * 8LL)) + i3)] : 0.0f);
    t0[(((i0 * 100LL) + (i2 * 10LL)) + i3)] = v_a0;
  }
}

// k1: matmul 'conv2d/matmul_N'
extern "C" __global__ void k1(const float* t0, float* t1, int* gc_status) {
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < 1152LL; p += (long long)gridDim.x * blockDim.x) {
    const long long i5 = p % 8LL;
    const long long i4 = (p / 8LL) % 8LL;
    const long long i3 = ((p / 8LL) / 8LL) % 3LL;
    const long long i2 = (((p / 8LL) / 8LL) / 3LL) % 3LL;
    const long long i0 = ((((p / 8LL) / 8LL) / 3LL) / 3LL) % 2LL;
    const float v_a0 = t0[(((((i0 * 100LL) + (i2 * 10LL)) + i3) + (i4 * 10LL)) + i5)];
    t1[(((((i0 * 576LL) + (i2 * 192LL)) + (i3 * 64LL)) + (i4 * 8LL)) + i5)] = v_a0;
  }
}

// k2: matmul 'conv2d/matmul_N' + add 'conv2d/add_N' + relu 'relu_N' (fused: matmul 'conv2d/matmul_N'; add 'conv2d/add_N'; relu 'relu_N')
extern "C" __global__ void k2(const float* p_w, const float* t1, const float* p_b, float* t2, int* gc_status) {
  __shared__ float As[16][65];  // As[q][r] = op(A)[row0 + r, k0 + q]
  __shared__ float Bs[16][65];  // Bs[q][c] = op(B)[k0 + q, col0 + c]
  const int tx = threadIdx.x, ty = threadIdx.y, me = ty * blockDim.x + tx;
  const long long row0 = blockIdx.y * 64LL, col0 = blockIdx.x * 64LL;
  for (long long z = blockIdx.z; z < 2LL; z += gridDim.z) {
    const long long b0 = z % 2LL;
    float acc[4][4];
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    for (long long k0 = 0; k0 < 9LL; k0 += 16) {
      for (int l = me; l < 1024; l += 256) {  // stage the k-slice of A and of B
        const int r = l / 16, q = l % 16, qb = l / 64, c = l % 64;
        As[q][r] = (row0 + r < 4LL && k0 + q < 9LL) ? p_w[0LL + (row0 + r) * 9LL + (k0 + q)] : 0.0f;
        Bs[qb][c] = (k0 + qb < 9LL && col0 + c < 64LL) ? t1[(b0 * 576LL) + (k0 + qb) * 64LL + (col0 + c)] : 0.0f;
      }
      __syncthreads();
      for (int q = 0; q < 16; ++q) {
        float a[4], b[4];
        for (int i = 0; i < 4; ++i) a[i] = As[q][ty + 16 * i];
        for (int j = 0; j < 4; ++j) b[j] = Bs[q][tx + 16 * j];
        for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
      }
      __syncthreads();
    }
    for (int i = 0; i < 4; ++i) for (int j = 0; j < 4; ++j) {
      const long long row = row0 + ty + 16 * i, col = col0 + tx + 16 * j;
      if (row >= 4LL || col >= 64LL) continue;
      float c = 1.0f * acc[i][j];
      const float v_a1 = p_b[row];
      const float s2 = (c + v_a1);
      const float s4 = gc_fmax<float>(0.0f, s2);
      c = s4;
      t2[(b0 * 256LL) + row * 64LL + col] = c;
    }
  }
}

// k3: max 'max_pool/max_N'
extern "C" __global__ void k3_init(float* t3, int* gc_status) {
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < 128LL; p += (long long)gridDim.x * blockDim.x)
    t3[p] = (-__int_as_float(0x7f800000));
}

extern "C" __global__ void k3(const float* t2, float* t3, int* gc_status) {
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < 128LL; p += (long long)gridDim.x * blockDim.x) {
    const long long i3 = p % 4LL;
    const long long i2 = (p / 4LL) % 4LL;
    const long long i1 = ((p / 4LL) / 4LL) % 4LL;
    const long long i0 = (((p / 4LL) / 4LL) / 4LL) % 2LL;
    float acc = t3[((((i0 * 64LL) + (i1 * 16LL)) + (i2 * 4LL)) + i3)];
    for (long long i4 = 0; i4 < 2LL; ++i4)
      for (long long i5 = 0; i5 < 2LL; ++i5)
        {
          const float v_a0 = t2[((((((i0 * 256LL) + (i1 * 64LL)) + (i2 * 16LL)) + (i3 * 2LL)) + (i4 * 8LL)) + i5)];
          acc = gc_fmax<float>(acc, v_a0);
        }
    t3[((((i0 * 64LL) + (i1 * 16LL)) + (i2 * 4LL)) + i3)] = acc;
  }
}
