import type { EntityManager } from 'typeorm';
import { authorizeUserUpdate } from '../auth/access';
import type { Principal } from '../auth/principal';
import { AppError, sqlState } from '../errors';
import { canonicalEmail } from '../identity/canonical';
import { newId, parseId } from '../ids';
import { keysetPage, type Page, type PageArgs } from '../pagination';
import { User } from './user.entity';
import type { CreateUserInput, UpdateUserInput, UserFilter } from './user.inputs';

const emailTaken = () => AppError.conflict('A user with this email already exists');

export class UserService {
  /** CONFLICT when another account has the same canonical email (issue 9: one person, one account). */
  async create(manager: EntityManager, input: CreateUserInput): Promise<User> {
    const email = canonicalEmail(input.email, 'input.email');
    const user = manager.create(User, {
      id: newId('user'),
      email: email.display,
      emailKey: email.key,
      name: input.name?.trim() ?? null,
      externalId: input.externalId ?? null,
    });
    try {
      await manager.insert(User, user);
    } catch (error) {
      if (sqlState(error) === '23505') throw emailTaken();
      throw error;
    }
    return manager.findOneByOrFail(User, { id: user.id });
  }

  /**
   * updateUser (issue 12). Who may change what: authorizeUserUpdate (src/auth/access.ts).
   * Fields left out stay; `externalId: null` clears it; `name: null` or `email: null` is
   * BAD_USER_INPUT. A new email is stored with its canonical key in the same statement;
   * CONFLICT when another account holds that key (the unique index users_email_key_key
   * decides, so two concurrent updates to one address cannot both win). One UPDATE: its
   * row lock orders it with deleteUser (which locks the row FOR UPDATE), so a user deleted
   * meanwhile answers NOT_FOUND.
   */
  async update(manager: EntityManager, principal: Principal, input: UpdateUserInput): Promise<User> {
    const userId = parseId('user', input.id, 'input.id');
    authorizeUserUpdate(principal, userId, { email: input.email !== undefined, externalId: input.externalId !== undefined });
    if (input.name === null) throw AppError.badInput('input.name', 'input.name must not be null: leave it out to keep the name');
    if (input.email === null) throw AppError.badInput('input.email', 'input.email must not be null: leave it out to keep the email');
    const email = input.email !== undefined ? canonicalEmail(input.email, 'input.email') : undefined;
    const sets: string[] = [];
    const params: unknown[] = [userId];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (input.name !== undefined) set('name', input.name.trim());
    if (email) {
      set('email', email.display);
      set('email_key', email.key);
    }
    if (input.externalId !== undefined) set('external_id', input.externalId);
    let rows: Array<{ id: string }>;
    try {
      // With nothing to change, the no-op `id = id` still finds (and locks) the row, so an unknown ID is NOT_FOUND.
      [rows] = await manager.query(`UPDATE users SET ${sets.length ? sets.join(', ') : 'id = id'} WHERE id = $1 RETURNING id`, params);
    } catch (error) {
      if (sqlState(error) === '23505') throw emailTaken();
      throw error;
    }
    if (rows.length === 0) throw AppError.notFound('User', userId);
    return manager.findOneByOrFail(User, { id: userId });
  }

  /**
   * users(filter:) (issue 12): every user for the admin and USERS_READ keys, narrowed by the
   * filter. Each condition is index-backed: the email by its canonical key on the unique
   * index users_email_key_key, externalId on users_external_id_idx (test/find.test.ts EXPLAINs
   * the statement this runs). An email that is no valid address is BAD_USER_INPUT naming
   * filter.email (it could match nobody: saying so beats an empty page).
   */
  list(manager: EntityManager, args: PageArgs, filter: UserFilter | null | undefined): Promise<Page<User>> {
    const query = manager.createQueryBuilder(User, 'u');
    if (filter?.email != null) {
      query.andWhere('u.email_key = :emailKey', { emailKey: canonicalEmail(filter.email, 'filter.email').key });
    }
    if (filter?.externalId != null) query.andWhere('u.external_id = :externalId', { externalId: filter.externalId });
    return keysetPage(query, 'user', args);
  }
}
