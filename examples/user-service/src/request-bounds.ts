import { status } from '@grpc/grpc-js';
import { statusError } from '@weft/core';

/**
 * Upper bounds on every string and repeated field of a UserService request, checked before any
 * other work (and before any pattern) so a hostile request costs a length comparison. Lengths are
 * JavaScript string lengths (UTF-16 code units) of the field as received, before trimming.
 * examples/user-service/README.md lists them; test/request-bounds.test.ts pins them.
 */
export const REQUEST_BOUNDS = Object.freeze({
  /** `id` of GetUser, UpdateUser and DeleteUser. The demo's ids are 36-character UUIDs. */
  idLength: 64,
  /** `name` of CreateUser, UpdateUser and each ImportUsers message. */
  nameLength: 200,
  /** `email`: RFC 5321's limit on a forward path (256 with the angle brackets). */
  emailLength: 254,
  /** The part of `email` before the @ (RFC 5321, 4.5.3.1.1). */
  emailLocalLength: 64,
  /** Entries of `roles`. */
  roles: 32,
  /** Each entry of `roles`, and the `role` filter of ListUsers. */
  roleLength: 64,
  /** ListUsers `limit` (0 still means all: the store holds at most 10,000 users). */
  listLimit: 10_000,
  /** Error lines in an ImportUsers summary; `failed` still counts every rejected message. */
  importErrors: 100,
});

/** The fields a user is made of, as CreateUser, UpdateUser and ImportUsers carry them. */
export interface UserFields {
  name?: string;
  email?: string;
  roles?: readonly string[];
}

function invalid(details: string): never {
  throw statusError(status.INVALID_ARGUMENT, details);
}

/** Throws INVALID_ARGUMENT naming the field and its bound; never echoes the value. */
function checkLength(field: string, value: string | undefined, max: number): void {
  if (value !== undefined && value.length > max) invalid(`${field}: at most ${max} characters`);
}

/** A required, bounded id (GetUser, UpdateUser, DeleteUser). */
export function checkId(id: string | undefined): string {
  checkLength('id', id, REQUEST_BOUNDS.idLength);
  if (!id) invalid('id: required');
  return id;
}

/** The bounds of a user's fields (not their content): name, email, the roles and each role. */
export function checkUserBounds(input: UserFields): void {
  checkLength('name', input.name, REQUEST_BOUNDS.nameLength);
  checkLength('email', input.email, REQUEST_BOUNDS.emailLength);
  const roles = input.roles;
  if (roles === undefined) return;
  if (roles.length > REQUEST_BOUNDS.roles) invalid(`roles: at most ${REQUEST_BOUNDS.roles} entries`);
  for (let i = 0; i < roles.length; i++) checkLength(`roles[${i}]`, roles[i], REQUEST_BOUNDS.roleLength);
}

/** ListUsers' `limit` and `role`. */
export function checkListBounds(limit: number, role: string): void {
  if (limit < 0) invalid('limit: must not be negative');
  if (limit > REQUEST_BOUNDS.listLimit) invalid(`limit: at most ${REQUEST_BOUNDS.listLimit}`);
  checkLength('role', role, REQUEST_BOUNDS.roleLength);
}

// One character class without a quantifier: V8 tries it once per position, so it is linear.
const WHITESPACE = /\s/;

/**
 * The shape the demo asks of an address, in one pass and without backtracking: something, one @,
 * then a domain with a dot that is neither its first nor its last character; no whitespace.
 * It accepts exactly what `/^[^\s@]+@[^\s@]+\.[^\s@]+$/` did, which was quadratic on
 * `a@....@` (issue 15: 40,000 dots held the event loop for ~2 s).
 */
export function isEmailShaped(email: string): boolean {
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || WHITESPACE.test(email)) return false;
  const dot = email.indexOf('.', at + 2);
  return dot !== -1 && dot < email.length - 1;
}

/** A normalized (trimmed, lower-case) address, or INVALID_ARGUMENT. */
export function validEmail(email: string | undefined): string {
  checkLength('email', email, REQUEST_BOUNDS.emailLength);
  const trimmed = (email ?? '').trim().toLowerCase();
  if (trimmed === '') invalid('email: required');
  if (trimmed.indexOf('@') > REQUEST_BOUNDS.emailLocalLength)
    invalid(`email: at most ${REQUEST_BOUNDS.emailLocalLength} characters before the @`);
  if (!isEmailShaped(trimmed)) invalid('email: not a valid address');
  return trimmed;
}

/** A trimmed, non-empty name, or INVALID_ARGUMENT. */
export function validName(name: string | undefined): string {
  checkLength('name', name, REQUEST_BOUNDS.nameLength);
  const trimmed = (name ?? '').trim();
  if (trimmed === '') invalid('name: required');
  return trimmed;
}
