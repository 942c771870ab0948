import type { EntityManager } from 'typeorm';
import { AppError, sqlState } from '../errors';
import { canonicalEmail } from '../identity/canonical';
import { newId } from '../ids';
import { keysetPage, type Page, type PageArgs } from '../pagination';
import { User } from './user.entity';
import type { CreateUserInput } from './user.inputs';

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
      if (sqlState(error) === '23505') throw AppError.conflict('A user with this email already exists');
      throw error;
    }
    return manager.findOneByOrFail(User, { id: user.id });
  }

  list(manager: EntityManager, args: PageArgs): Promise<Page<User>> {
    return keysetPage(manager.createQueryBuilder(User, 'u'), 'user', args);
  }
}
