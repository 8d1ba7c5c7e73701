import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { statusError } from '@weft/core';
import type { User } from './generated/weft/demo/v1/User';
import {
  checkId,
  checkListBounds,
  checkUserBounds,
  type UserFields,
  validEmail,
  validName,
} from './request-bounds';

export type StoredUser = Required<Pick<User, 'id' | 'name' | 'email' | 'roles' | 'createdAt' | 'updatedAt'>>;

export type UserInput = UserFields;

const MAX_USERS = 10_000;

/** An in-memory user store with the validation a real one would do; errors are gRPC statuses. */
export class UserStore {
  private readonly users = new Map<string, StoredUser>();

  constructor(seed: UserInput[] = []) {
    for (const user of seed) this.create(user);
  }

  get(id: string): StoredUser {
    checkId(id);
    const user = this.users.get(id);
    if (user === undefined) throw statusError(status.NOT_FOUND, `user "${id}" not found`);
    return user;
  }

  list(limit = 0, role = ''): StoredUser[] {
    checkListBounds(limit, role);
    const all = [...this.users.values()].filter((u) => role === '' || u.roles.includes(role));
    return limit > 0 ? all.slice(0, limit) : all;
  }

  create(input: UserInput): StoredUser {
    // Bounds first: a hostile request costs a few length comparisons and nothing else.
    checkUserBounds(input);
    const name = validName(input.name);
    const email = validEmail(input.email);
    this.assertEmailFree(email);
    if (this.users.size >= MAX_USERS) throw statusError(status.RESOURCE_EXHAUSTED, 'the demo store is full');
    const now = new Date().toISOString();
    const user: StoredUser = {
      id: randomUUID(),
      name,
      email,
      roles: [...(input.roles ?? [])],
      createdAt: now,
      updatedAt: now,
    };
    this.users.set(user.id, user);
    return user;
  }

  update(id: string, input: UserInput): StoredUser {
    checkId(id);
    checkUserBounds(input);
    const current = this.get(id);
    const email = input.email ? validEmail(input.email) : current.email;
    if (email !== current.email) this.assertEmailFree(email);
    const updated: StoredUser = {
      ...current,
      name: input.name ? validName(input.name) : current.name,
      email,
      roles: input.roles && input.roles.length > 0 ? [...input.roles] : current.roles,
      updatedAt: new Date().toISOString(),
    };
    this.users.set(id, updated);
    return updated;
  }

  delete(id: string): void {
    this.get(id);
    this.users.delete(id);
  }

  private assertEmailFree(email: string): void {
    for (const user of this.users.values()) {
      if (user.email === email)
        throw statusError(status.ALREADY_EXISTS, `a user with email "${email}" exists`);
    }
  }
}
