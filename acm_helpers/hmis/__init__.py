"""hmis"""
