import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType } from 'type-graphql';
import { Connection } from '../pagination';

/**
 * Entity and GraphQL type in one class, on purpose: only properties with @Field are
 * public. Relations are not mapped in TypeORM: reads go through per-request
 * DataLoaders and deletion through explicit SQL. Organization-owned data (domains,
 * settings) has its own tables so that the deletion engine removes it explicitly.
 */
@ObjectType()
@Entity({ name: 'organizations' })
export class Organization {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Field(() => String, { nullable: true })
  @Column({ name: 'external_id', type: 'varchar', length: 255, nullable: true })
  externalId: string | null;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/**
 * A domain an organization holds, in canonical A-label form (UTS #46). Unverified when a
 * signed-in user added it: it blocks nobody. Verified when the platform admin or a key with
 * ORGANIZATIONS_WRITE added or verified it: unique across organizations (issue 9).
 */
@ObjectType()
@Entity({ name: 'organization_domains' })
export class OrganizationDomain {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 30 })
  organizationId: string;

  @Field({ description: 'A-label (ASCII) form: münchen.example is xn--mnchen-3ya.example.' })
  @PrimaryColumn({ type: 'varchar', length: 253 })
  domain: string;

  @Field({ description: 'Verified domains are unique across organizations; unverified ones block nobody.' })
  @Column({ type: 'boolean', default: false })
  verified: boolean;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

@Entity({ name: 'organization_settings' })
export class OrganizationSettings {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 30 })
  organizationId: string;

  @Column({ type: 'jsonb', default: () => "'{}'::jsonb" })
  data: Record<string, unknown>;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}

@ObjectType()
export class OrganizationConnection extends Connection(Organization) {}
