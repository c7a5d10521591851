// Kubernetes resource quantities ("17", "2500m", "1k"), as apimachinery's resource.Quantity writes
// and reads them. toQuantity mirrors what KEDA serves for a metric value:
// resource.NewMilliQuantity(int64(value*1000), resource.DecimalSI).String().

const DECIMAL_SI_SUFFIXES = new Map<number, string>([
  [-9, 'n'],
  [-6, 'u'],
  [-3, 'm'],
  [0, ''],
  [3, 'k'],
  [6, 'M'],
  [9, 'G'],
  [12, 'T'],
  [15, 'P'],
  [18, 'E'],
]);

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * The largest value a quantity in milli-units holds (int64 max / 1000, as a float64). Every larger
 * value, Infinity included, is served as exactly this: one clamp for every path a number takes.
 */
export const MAX_QUANTITY_VALUE = Number(INT64_MAX) / 1000;

/**
 * The DecimalSI canonical form of `value`, truncated toward zero to thousandths as KEDA's
 * int64(value*1000) does: 17 -> "17", 2.5 -> "2500m", 0.0015 -> "1m", 1000 -> "1k", 1500 -> "1500".
 * Values beyond int64 milli-units, infinities included, are clamped to the int64 bounds (Go's
 * conversion of such a float is undefined; KEDA can serve a negative number there).
 */
export function toQuantity(value: number): string {
  if (Number.isNaN(value)) {
    throw new RangeError(`toQuantity: ${value} has no Kubernetes quantity; a metric value must be a number`);
  }
  return formatMilli(clampToInt64(value * 1000));
}

/** apimachinery's int64Amount.AsCanonicalBytes: strip trailing zeros, then lower the exponent to a multiple of 3. */
function formatMilli(milli: bigint): string {
  if (milli === 0n) {
    return '0';
  }
  let mantissa = milli;
  let exponent = -3;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent += 1;
  }
  const excess = ((exponent % 3) + 3) % 3;
  mantissa *= 10n ** BigInt(excess);
  exponent -= excess;
  const suffix = DECIMAL_SI_SUFFIXES.get(exponent);
  if (suffix === undefined) {
    // Unreachable for int64 milli-units (exponent stays within -3..15); kept so a change shows up loudly.
    throw new RangeError(`toQuantity: no DecimalSI suffix for exponent ${exponent}`);
  }
  return `${mantissa}${suffix}`;
}

function clampToInt64(milli: number): bigint {
  if (milli >= 2 ** 63) return INT64_MAX;
  if (milli <= -(2 ** 63)) return INT64_MIN;
  const big = BigInt(Math.trunc(milli));
  if (big > INT64_MAX) return INT64_MAX;
  if (big < INT64_MIN) return INT64_MIN;
  return big;
}

const SUFFIX_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

// apimachinery's grammar: <signedNumber><suffix>, suffix one of the SI/binary suffixes or e<signedInt>.
const QUANTITY_PATTERN = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** A Kubernetes quantity as a number: "8400m" -> 8.4, "1Ki" -> 1024, "1e3" -> 1000. */
export function parseQuantity(text: string): number {
  const match = QUANTITY_PATTERN.exec(text.trim());
  if (match === null) {
    throw new RangeError(`"${text}" is not a Kubernetes quantity; expected a number with an optional suffix such as "8400m", "17", "2k" or "1Gi"`);
  }
  const [, number = '', exponent, suffix = ''] = match;
  if (exponent !== undefined) {
    return Number(`${number}${exponent}`);
  }
  const multiplier = SUFFIX_MULTIPLIERS[suffix] ?? 1;
  // Dividing by the inverse keeps sub-unit suffixes exact for common values: 8400 / 1000 is 8.4,
  // where 8400 * 0.001 is 8.400000000000001.
  return multiplier < 1 ? Number(number) / Math.round(1 / multiplier) : Number(number) * multiplier;
}
