/* SPDX-License-Identifier: BSD-2-Clause */
#include "fuzz_data_producer.h"

#include <string.h>

void fuzz_dp_init(fuzz_dp *dp, const uint8_t *data, size_t size)
{
    dp->data = size ? data : NULL;
    dp->size = data ? size : 0;
}

size_t fuzz_dp_remaining(const fuzz_dp *dp)
{
    return dp->size;
}

bool fuzz_dp_empty(const fuzz_dp *dp)
{
    return dp->size == 0;
}

static uint64_t take_front(fuzz_dp *dp, unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes && dp->size > 0; i++) {
        v |= (uint64_t)dp->data[0] << (8 * i);
        dp->data++;
        dp->size--;
    }
    return v;
}

static uint64_t take_tail(fuzz_dp *dp, unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes && dp->size > 0; i++) {
        v |= (uint64_t)dp->data[dp->size - 1] << (8 * i);
        dp->size--;
    }
    return v;
}

uint8_t fuzz_dp_u8(fuzz_dp *dp)
{
    return (uint8_t)take_front(dp, 1);
}

uint16_t fuzz_dp_u16(fuzz_dp *dp)
{
    return (uint16_t)take_front(dp, 2);
}

uint32_t fuzz_dp_u32(fuzz_dp *dp)
{
    return (uint32_t)take_front(dp, 4);
}

uint64_t fuzz_dp_u64(fuzz_dp *dp)
{
    return take_front(dp, 8);
}

bool fuzz_dp_bool(fuzz_dp *dp)
{
    return (take_front(dp, 1) & 1u) != 0;
}

static unsigned bytes_for(uint32_t span)
{
    if (span <= 0xFFu)
        return 1;
    if (span <= 0xFFFFu)
        return 2;
    if (span <= 0xFFFFFFu)
        return 3;
    return 4;
}

static uint32_t fit(uint64_t raw, uint32_t min, uint32_t max)
{
    uint64_t span = (uint64_t)max - min + 1u;
    return (uint32_t)(min + raw % span);
}

uint32_t fuzz_dp_range(fuzz_dp *dp, uint32_t min, uint32_t max)
{
    if (min >= max)
        return min;
    return fit(take_front(dp, bytes_for(max - min)), min, max);
}

uint32_t fuzz_dp_tail_range(fuzz_dp *dp, uint32_t min, uint32_t max)
{
    if (min >= max)
        return min;
    return fit(take_tail(dp, bytes_for(max - min)), min, max);
}

size_t fuzz_dp_bytes(fuzz_dp *dp, void *out, size_t n)
{
    size_t take = n < dp->size ? n : dp->size;
    if (take)
        memcpy(out, dp->data, take);
    if (n > take)
        memset((uint8_t *)out + take, 0, n - take);
    dp->data += take;
    dp->size -= take;
    return take;
}
