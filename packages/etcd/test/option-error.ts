import { OptionError } from '@weft/core';

/**
 * The message of the `OptionError` that `register` throws at setup, or `'registered'` when it
 * throws none: then `restore()` puts back the registration the other tests rely on, since a
 * wrongly accepted option would otherwise stay registered for them.
 */
export function optionErrorOf(register: () => void, restore: () => void): string {
  try {
    register();
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    return error.message;
  }
  restore();
  return 'registered';
}
