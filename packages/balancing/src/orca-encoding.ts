/**
 * The ORCA `OrcaLoadReport` message (xds/data/orca/v3/orca_load_report.proto) for the fields weft
 * reports, encoded by hand: four doubles are 36 bytes, and encoding them here once per update
 * period (not once per call) means the per-call trailer is a shared, ready-made Buffer.
 */

/** The report weft sends, with the proto's field names (grpc-js's ORCA service writes this object). */
export interface OrcaReport {
  /** Field 1: CPU utilization, 0..1 of the CPU budget. */
  cpu_utilization: number;
  /** Field 9: application utilization (what grpc-js's `weighted_round_robin` divides by). */
  application_utilization: number;
  /** Field 6: queries per second. */
  rps_fractional: number;
  /** Field 7: errors per second. */
  eps: number;
}

const CPU_UTILIZATION = 1;
const RPS_FRACTIONAL = 6;
const EPS = 7;
const APPLICATION_UTILIZATION = 9;
/** Wire type 1: a 64-bit little-endian value. */
const FIXED64 = 1;

/**
 * The report in protobuf wire format. Zero fields are left out, as proto3 does (a decoder reads a
 * missing double as 0), and the fields go in field-number order, as protobuf encoders write them.
 */
export function encodeOrcaReport(report: OrcaReport): Buffer {
  const fields: [number, number][] = [
    [CPU_UTILIZATION, report.cpu_utilization],
    [RPS_FRACTIONAL, report.rps_fractional],
    [EPS, report.eps],
    [APPLICATION_UTILIZATION, report.application_utilization],
  ];
  const present = fields.filter(([, value]) => value !== 0);
  const out = Buffer.alloc(present.length * 9);
  let offset = 0;
  for (const [field, value] of present) {
    out[offset] = (field << 3) | FIXED64; // every tag here is below 16: one byte
    out.writeDoubleLE(value, offset + 1);
    offset += 9;
  }
  return out;
}
