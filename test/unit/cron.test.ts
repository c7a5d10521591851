import { expect } from 'chai';
import {
  cronExpressionProblem,
  cronMetricName,
  cronScalerType,
  cronWindowState,
  createCronScaler,
  type CronConfig,
} from '../../src/scalers/cron.js';
import { ScalerConfigError, ScalerError, type TriggerInput } from '../../src/scalers/scaler.js';

function input(metadata: Record<string, string>, triggerIndex = 0, metricType: TriggerInput['metricType'] = 'AverageValue'): TriggerInput {
  return {
    namespace: 'default',
    scaledObjectName: 'so',
    triggerIndex,
    metadata,
    authParams: {},
    resolvedEnv: {},
    metricType,
  };
}

const OFFICE = { timezone: 'Etc/UTC', start: '0 6 * * *', end: '0 18 * * *', desiredReplicas: '10' };

describe('cronWindowState', () => {
  const cases: {
    name: string;
    start: string;
    end: string;
    tz: string;
    now: string;
    inside: boolean;
    lastStart: string | undefined;
    lastEnd: string | undefined;
  }[] = [
    // A day window in UTC, at and around both edges.
    { name: 'before the start', start: '0 6 * * *', end: '0 18 * * *', tz: 'Etc/UTC', now: '2024-03-05T05:59:59Z', inside: false, lastStart: '2024-03-04 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'at the start minute', start: '0 6 * * *', end: '0 18 * * *', tz: 'Etc/UTC', now: '2024-03-05T06:00:00Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'midday', start: '0 6 * * *', end: '0 18 * * *', tz: 'Etc/UTC', now: '2024-03-05T12:00:00Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'last second before the end', start: '0 6 * * *', end: '0 18 * * *', tz: 'Etc/UTC', now: '2024-03-05T17:59:59Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'at the end minute', start: '0 6 * * *', end: '0 18 * * *', tz: 'Etc/UTC', now: '2024-03-05T18:00:00Z', inside: false, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-05 18:00' },
    // A night window crossing midnight.
    { name: 'night: before midnight', start: '0 22 * * *', end: '0 6 * * *', tz: 'Etc/UTC', now: '2024-03-05T23:30:00Z', inside: true, lastStart: '2024-03-05 22:00', lastEnd: '2024-03-05 06:00' },
    { name: 'night: after midnight', start: '0 22 * * *', end: '0 6 * * *', tz: 'Etc/UTC', now: '2024-03-06T02:00:00Z', inside: true, lastStart: '2024-03-05 22:00', lastEnd: '2024-03-05 06:00' },
    { name: 'night: at the end', start: '0 22 * * *', end: '0 6 * * *', tz: 'Etc/UTC', now: '2024-03-06T06:00:00Z', inside: false, lastStart: '2024-03-05 22:00', lastEnd: '2024-03-06 06:00' },
    { name: 'night: afternoon', start: '0 22 * * *', end: '0 6 * * *', tz: 'Etc/UTC', now: '2024-03-06T15:00:00Z', inside: false, lastStart: '2024-03-05 22:00', lastEnd: '2024-03-06 06:00' },
    { name: 'night: across the new year', start: '0 22 * * *', end: '0 6 * * *', tz: 'Etc/UTC', now: '2024-01-01T01:00:00Z', inside: true, lastStart: '2023-12-31 22:00', lastEnd: '2023-12-31 06:00' },
    // DST-free zones, read by wall clock: India +05:30, Japan +09:00, Kiribati +14:00, Samoa -11:00.
    { name: 'Kolkata: 05:59 local', start: '0 6 * * *', end: '0 18 * * *', tz: 'Asia/Kolkata', now: '2024-03-05T00:29:00Z', inside: false, lastStart: '2024-03-04 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'Kolkata: 06:00 local', start: '0 6 * * *', end: '0 18 * * *', tz: 'Asia/Kolkata', now: '2024-03-05T00:30:00Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'Tokyo: 06:00 local is 21:00 UTC the day before', start: '0 6 * * *', end: '0 18 * * *', tz: 'Asia/Tokyo', now: '2024-03-04T21:00:00Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'Kiritimati: local date a day ahead of UTC', start: '0 6 * * *', end: '0 18 * * *', tz: 'Pacific/Kiritimati', now: '2024-03-04T16:30:00Z', inside: true, lastStart: '2024-03-05 06:00', lastEnd: '2024-03-04 18:00' },
    { name: 'Pago Pago: local date a day behind UTC', start: '0 22 * * *', end: '0 6 * * *', tz: 'Pacific/Pago_Pago', now: '2024-03-05T10:00:00Z', inside: true, lastStart: '2024-03-04 22:00', lastEnd: '2024-03-04 06:00' },
    // A zone with summer time: 06:00 CEST is 04:00 UTC.
    { name: 'Berlin in summer: 05:59 local', start: '0 6 * * *', end: '0 18 * * *', tz: 'Europe/Berlin', now: '2024-07-01T03:59:00Z', inside: false, lastStart: '2024-06-30 06:00', lastEnd: '2024-06-30 18:00' },
    { name: 'Berlin in summer: 06:00 local', start: '0 6 * * *', end: '0 18 * * *', tz: 'Europe/Berlin', now: '2024-07-01T04:00:00Z', inside: true, lastStart: '2024-07-01 06:00', lastEnd: '2024-06-30 18:00' },
    // KEDA's own examples: all of Thursday (2024-03-07 is a Thursday), and even hours.
    { name: 'Thursday: on Thursday', start: '0 0 * * Thu', end: '59 23 * * Thu', tz: 'Etc/UTC', now: '2024-03-07T12:00:00Z', inside: true, lastStart: '2024-03-07 00:00', lastEnd: '2024-02-29 23:59' },
    { name: 'Thursday: its last minute', start: '0 0 * * Thu', end: '59 23 * * Thu', tz: 'Etc/UTC', now: '2024-03-07T23:59:30Z', inside: false, lastStart: '2024-03-07 00:00', lastEnd: '2024-03-07 23:59' },
    { name: 'Thursday: on Friday', start: '0 0 * * Thu', end: '59 23 * * Thu', tz: 'Etc/UTC', now: '2024-03-08T00:00:00Z', inside: false, lastStart: '2024-03-07 00:00', lastEnd: '2024-03-07 23:59' },
    { name: 'even hours: 04:30', start: '0 */2 * * *', end: '0 1-23/2 * * *', tz: 'Etc/UTC', now: '2024-03-05T04:30:00Z', inside: true, lastStart: '2024-03-05 04:00', lastEnd: '2024-03-05 03:00' },
    { name: 'even hours: 05:30', start: '0 */2 * * *', end: '0 1-23/2 * * *', tz: 'Etc/UTC', now: '2024-03-05T05:30:00Z', inside: false, lastStart: '2024-03-05 04:00', lastEnd: '2024-03-05 05:00' },
    // Both day fields restricted: a day matches either (the 1st, or a Monday).
    { name: 'day-of-month or weekday: the 1st (a Friday)', start: '0 9 1 * 1', end: '0 17 * * *', tz: 'Etc/UTC', now: '2024-03-01T10:00:00Z', inside: true, lastStart: '2024-03-01 09:00', lastEnd: '2024-02-29 17:00' },
    { name: 'day-of-month or weekday: a Tuesday', start: '0 9 1 * 1', end: '0 17 * * *', tz: 'Etc/UTC', now: '2024-03-05T10:00:00Z', inside: false, lastStart: '2024-03-04 09:00', lastEnd: '2024-03-04 17:00' },
    // Weekdays only, looked at on a Sunday: the window closed on Friday.
    { name: 'weekdays: on Sunday', start: '0 8 * * 1-5', end: '0 20 * * 1-5', tz: 'Etc/UTC', now: '2024-03-10T12:00:00Z', inside: false, lastStart: '2024-03-08 08:00', lastEnd: '2024-03-08 20:00' },
    // A yearly start: once a year on 1 January.
    { name: 'yearly start, monthly end', start: '0 0 1 1 *', end: '0 0 15 * *', tz: 'Etc/UTC', now: '2024-01-10T00:00:00Z', inside: true, lastStart: '2024-01-01 00:00', lastEnd: '2023-12-15 00:00' },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.inside ? 'inside' : 'outside'}`, () => {
      expect(cronWindowState(c.start, c.end, c.tz, new Date(c.now))).to.deep.equal({
        inside: c.inside,
        lastStart: c.lastStart,
        lastEnd: c.lastEnd,
      });
    });
  }

  it('throws on an expression that was not validated', () => {
    expect(() => cronWindowState('0 25 * * *', '0 6 * * *', 'Etc/UTC', new Date())).to.throw(
      '"0 25 * * *" is not a valid cron expression (hour "25" out of range or malformed)',
    );
  });
});

describe('cronExpressionProblem', () => {
  const cases: [string, string | undefined][] = [
    ['0 6 * * 1-5', undefined],
    ['30-33 * * * *', undefined],
    ['0,30 * * * *', undefined],
    ['0 6 ? * MON-FRI', undefined],
    ['0 0 1 jan *', undefined],
    ['-30 * * * *', '"-30 * * * *" is not a valid cron expression (minute "-30" out of range or malformed); use minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'],
    ['50 * * -3 *', '"50 * * -3 *" is not a valid cron expression (month "-3" out of range or malformed); use minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'],
    ['*/5 * * * * *', '"*/5 * * * * *" has 6 field(s); use 5 (no seconds): minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'],
    ['@daily', '"@daily" has 1 field(s); use 5 (no seconds): minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'],
    ['0 6 L * *', '"0 6 L * *" uses L, W or # which KEDA\'s cron scaler does not accept; use minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"'],
  ];
  for (const [expr, problem] of cases) {
    it(`${JSON.stringify(expr)} -> ${problem === undefined ? 'valid' : 'invalid'}`, () => {
      expect(cronExpressionProblem(expr)).to.equal(problem);
    });
  }
});

describe('cronMetricName', () => {
  // The names KEDA's cron_scaler_test.go expects, so HPAs written by KEDA keep their metric names.
  const cases: [number, string, string, string, string][] = [
    [0, 'Etc/UTC', '0 0 * * Thu', '59 23 * * Thu', 's0-cron-Etc-UTC-00xxThu-5923xxThu'],
    [1, 'Etc/UTC', '0 */2 * * *', '0 1-23/2 * * *', 's1-cron-Etc-UTC-0xSl2xxx-01-23Sl2xxx'],
    [2, 'Etc/UTC', '0,30 * * * *', '15,45 * * * *', 's2-cron-Etc-UTC-0Cm30xxxx-15Cm45xxxx'],
    [0, 'America/Argentina/Buenos_Aires', '0 6 ? * *', '0 18 * * *', 's0-cron-America-Argentina-Buenos_Aires-06Qmxx-018xxx'],
  ];
  for (const [index, tz, start, end, name] of cases) {
    it(name, () => expect(cronMetricName(index, tz, start, end)).to.equal(name));
  }
});

describe('cronScalerType.parse', () => {
  it('reads the metadata into a typed config', () => {
    expect(cronScalerType.parse(input(OFFICE, 3))).to.deep.equal({
      timezone: 'Etc/UTC',
      start: '0 6 * * *',
      end: '0 18 * * *',
      desiredReplicas: 10,
      metricName: 's3-cron-Etc-UTC-06xxx-018xxx',
      targetType: 'AverageValue',
    });
  });

  const errors: { name: string; metadata: Record<string, string>; metricType?: TriggerInput['metricType']; field: string; message: string }[] = [
    { name: 'no timezone', metadata: { ...OFFICE, timezone: '' }, field: 'triggers[0].metadata.timezone', message: 'is required: an IANA time zone such as Etc/UTC or Europe/Berlin' },
    { name: 'unknown timezone', metadata: { ...OFFICE, timezone: 'Mars/Olympus' }, field: 'triggers[0].metadata.timezone', message: '"Mars/Olympus" is not a time zone; use an IANA time zone such as Etc/UTC or Europe/Berlin' },
    { name: 'no start', metadata: { timezone: 'Etc/UTC', end: '0 18 * * *', desiredReplicas: '10' }, field: 'triggers[0].metadata.start', message: 'is required: a cron expression with 5 fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"' },
    { name: 'bad start', metadata: { ...OFFICE, start: '0 24 * * *' }, field: 'triggers[0].metadata.start', message: '"0 24 * * *" is not a valid cron expression (hour "24" out of range or malformed); use minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"' },
    { name: 'bad end', metadata: { ...OFFICE, end: '-50 * * * *' }, field: 'triggers[0].metadata.end', message: '"-50 * * * *" is not a valid cron expression (minute "-50" out of range or malformed); use minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"' },
    { name: 'start equals end', metadata: { ...OFFICE, end: '0 6 * * *' }, field: 'triggers[0].metadata.end', message: 'must differ from start ("0 6 * * *"), or the window never opens' },
    { name: 'no desiredReplicas', metadata: { timezone: 'Etc/UTC', start: '0 6 * * *', end: '0 18 * * *' }, field: 'triggers[0].metadata.desiredReplicas', message: 'is required: a positive whole number of replicas such as "10"' },
    { name: 'desiredReplicas 0', metadata: { ...OFFICE, desiredReplicas: '0' }, field: 'triggers[0].metadata.desiredReplicas', message: 'must be a positive whole number of replicas such as "10"; got "0"' },
    { name: 'desiredReplicas not a number', metadata: { ...OFFICE, desiredReplicas: 'ten' }, field: 'triggers[0].metadata.desiredReplicas', message: 'must be a positive whole number of replicas such as "10"; got "ten"' },
    { name: 'desiredReplicas fractional', metadata: { ...OFFICE, desiredReplicas: '2.5' }, field: 'triggers[0].metadata.desiredReplicas', message: 'must be a positive whole number of replicas such as "10"; got "2.5"' },
    { name: 'Utilization', metadata: OFFICE, metricType: 'Utilization', field: 'triggers[0].metricType', message: 'Utilization is only for cpu and memory triggers; use AverageValue (the default) or Value' },
  ];
  for (const e of errors) {
    it(`rejects ${e.name}`, () => {
      let thrown: unknown;
      try {
        cronScalerType.parse(input(e.metadata, 0, e.metricType));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(ScalerConfigError);
      expect({ field: (thrown as ScalerConfigError).field, message: (thrown as ScalerConfigError).message }).to.deep.equal({
        field: e.field,
        message: e.message,
      });
    });
  }
});

describe('cron scaler', () => {
  const config: CronConfig = cronScalerType.parse(input(OFFICE));

  it('asks the HPA for 1 per pod', () => {
    expect(createCronScaler(config).metricSpecs).to.deep.equal([
      { metricName: 's0-cron-Etc-UTC-06xxx-018xxx', targetType: 'AverageValue', targetValue: 1 },
    ]);
  });

  it('keeps Value when the trigger asks for it', () => {
    const valueConfig = cronScalerType.parse(input(OFFICE, 0, 'Value'));
    expect(cronScalerType.create(valueConfig, input(OFFICE, 0, 'Value')).metricSpecs[0]?.targetType).to.equal('Value');
  });

  it('reports desiredReplicas and active inside the window', async () => {
    const scaler = createCronScaler(config, () => new Date('2024-03-05T09:00:00Z'));
    expect(await scaler.metricsAndActivity(new AbortController().signal)).to.deep.equal({
      samples: [{ metricName: 's0-cron-Etc-UTC-06xxx-018xxx', value: 10 }],
      active: true,
    });
  });

  it('reports 0 and inactive outside the window', async () => {
    const scaler = createCronScaler(config, () => new Date('2024-03-05T19:00:00Z'));
    expect(await scaler.metricsAndActivity(new AbortController().signal)).to.deep.equal({
      samples: [{ metricName: 's0-cron-Etc-UTC-06xxx-018xxx', value: 0 }],
      active: false,
    });
  });

  it('rejects an aborted read with reason Aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const error: unknown = await createCronScaler(config).metricsAndActivity(controller.signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ScalerError);
    expect((error as ScalerError).reason).to.equal('Aborted');
  });
});
